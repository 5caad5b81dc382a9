//! A graph compiled to burn tensors: forward in eval or train mode, taps, and write-back.

use crate::RuntimeError;
use crate::fusion;
use crate::kernels;
use crate::ops::{self, align_for_broadcast, padded, padding_pairs};
use crate::pipeline::Suffix;
use crate::train::Freeze;
use burn::tensor::module::{batch_norm, batch_norm_train, conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use shears_ir::{Array, Graph, Op, OutletId, Shape};
use shears_kernels::Activation;

/// Whether a forward pass trains (batch statistics, dropout) or evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Eval,
    Train,
}

/// Which nodes' outputs to capture during a forward pass.
#[derive(Clone, Debug, Default)]
pub struct TapSpec {
    /// Node indices whose output is captured.
    pub nodes: Vec<usize>,
    /// Also capture the gradient of the loss with respect to those outputs (needs an autodiff
    /// device and a `backward` on the loss).
    pub gradients: bool,
}

/// Activations (and gradient probes) captured by [`Network::forward_tapped`].
#[derive(Default)]
pub struct Taps {
    activations: Vec<(usize, Tensor<4>)>,
    probes: Vec<(usize, Tensor<4>)>,
}

impl Taps {
    /// The captured output of `node`, `[N, ...]` in the rank-4 layout.
    pub fn activation(&self, node: usize) -> Option<&Tensor<4>> {
        self.activations
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, t)| t)
    }

    /// dLoss/d(output of `node`), once `backward` has produced `grads`.
    ///
    /// The gradient is read off a zero "probe" leaf added to the node's output, which leaves
    /// the forward values unchanged.
    pub fn gradient(&self, node: usize, grads: &Gradients) -> Option<Tensor<4>> {
        self.probes
            .iter()
            .find(|(n, _)| *n == node)
            .and_then(|(_, probe)| probe.grad(grads))
    }
}

/// How one node runs; weights live in the network's flat parameter list.
pub(crate) enum Step {
    Input,
    Conv {
        weight: usize,
        bias: Option<usize>,
        shape: [usize; 4],
        options: ConvOptions<2>,
    },
    /// Computed with no padding and cropped by `crop` (`[top, left, bottom, right]`), which
    /// also covers ONNX's asymmetric pads.
    ConvTranspose {
        weight: usize,
        bias: Option<usize>,
        shape: [usize; 4],
        options: ConvTransposeOptions<2>,
        crop: [usize; 4],
    },
    /// Running mean is `stats[stats]`, running variance `stats[stats + 1]`.
    BatchNorm {
        gamma: usize,
        beta: usize,
        stats: usize,
        eps: f64,
        momentum: f64,
    },
    Linear {
        weight: usize,
        bias: Option<usize>,
        shape: [usize; 2],
    },
    LayerNorm {
        scale: usize,
        bias: usize,
        eps: f64,
    },
    /// A constant `[1, ...]`, broadcast against the batch by its reader.
    Constant(Tensor<4>),
    Plain(Op),
}

/// A [`Graph`] compiled for one device.
pub struct Network {
    pub(crate) steps: Vec<Step>,
    pub(crate) inputs: Vec<Vec<OutletId>>,
    pub(crate) shapes: Vec<Shape>,
    pub(crate) outputs: Vec<OutletId>,
    input_shape: Shape,
    input_count: usize,
    /// How many times each node's output is read (inputs and graph outputs), so a forward pass
    /// can move a value into its last reader instead of cloning it.
    uses: Vec<usize>,
    /// Per node, the ReLU that is its only reader ([`fusion::relu_readers`]), which its kernel
    /// may apply in the same pass.
    relu_readers: Vec<Option<usize>>,
    /// Trainable parameters, flat; leaves that require gradients on an autodiff device.
    pub(crate) params: Vec<Tensor<1>>,
    /// Per parameter, which elements may be non-zero (1) or stay zero (0) when the array has a
    /// weight-level pruning mask; on the device without autodiff, where optimisers work.
    masks: Vec<Option<Tensor<1>>>,
    /// Per parameter, whether training leaves it as it is ([`Network::freeze`]).
    frozen: Vec<bool>,
    /// Per node, the index in `params` of its conv's Filter Skeleton, if it has one
    /// ([`Network::add_filter_skeletons`]).
    pub(crate) skeletons: Vec<Option<usize>>,
    /// Per node, the sparse kernel its conv or linear layer runs on in eval mode
    /// ([`Network::use_sparse_kernels`]).
    pub(crate) sparse: Vec<Option<crate::sparse::SparseLayer>>,
    /// BN running statistics, flat and never differentiated.
    stats: Vec<Tensor<1>>,
    /// Which parameters are BN scales (gamma).
    gammas: Vec<usize>,
    device: Device,
    /// Whether convolutions and training-mode batch norm run on shears' own kernels
    /// ([`kernels::runs_on`]).
    kernels: bool,
    /// The largest batch already checked against available memory ([`Network::check_batch`]).
    checked_batch: std::cell::Cell<usize>,
    /// Eval-mode inference one image at a time, for a network made only of layers it runs
    /// ([`crate::pipeline`]).
    pipeline: Option<shears_kernels::Pipeline>,
    /// The parameters on the host for the pipeline, taken at its first run after they
    /// changed, and its convolutions' weights as its kernels read them.
    host: Option<HostParams>,
}

/// The parameters on the host, for the pipeline.
struct HostParams {
    params: Vec<Vec<f32>>,
    prepared: Option<shears_kernels::Prepared>,
}

impl HostParams {
    /// The cached host copy of `params`, taken now if there is none.
    fn of<'a>(cache: &'a mut Option<Self>, params: &[Tensor<1>]) -> &'a mut Self {
        cache.get_or_insert_with(|| Self {
            params: params.iter().map(|p| host_values(p.clone())).collect(),
            prepared: None,
        })
    }
}

impl Network {
    /// Compiles `graph` (which must verify) onto `device`. On an autodiff device the
    /// parameters require gradients.
    pub fn new(graph: &Graph, device: &Device) -> Result<Self, RuntimeError> {
        let shapes: Vec<Shape> = graph
            .verified_shapes()?
            .into_iter()
            .map(|mut s| s.swap_remove(0))
            .collect();
        if let Some((node, shape)) = graph.nodes.iter().zip(&shapes).find(|(_, s)| s.len() > 3) {
            return Err(RuntimeError::Unsupported(format!(
                "node '{}' produces per-sample shape {shape:?}; the runtime handles up to 3 axes [C, H, W]",
                node.name
            )));
        }
        let input_shape = graph
            .input_shape()
            .map(<[usize]>::to_vec)
            .unwrap_or_default();
        let uses = use_counts(graph);
        let mut net = Network {
            steps: Vec::with_capacity(graph.nodes.len()),
            inputs: graph.nodes.iter().map(|n| n.inputs.clone()).collect(),
            shapes,
            outputs: graph.outputs.clone(),
            input_shape,
            input_count: graph.inputs.len(),
            relu_readers: fusion::relu_readers(graph, &uses),
            uses,
            params: Vec::new(),
            masks: Vec::new(),
            frozen: Vec::new(),
            skeletons: vec![None; graph.nodes.len()],
            sparse: (0..graph.nodes.len()).map(|_| None).collect(),
            stats: Vec::new(),
            gammas: Vec::new(),
            device: device.clone(),
            kernels: kernels::runs_on(device),
            checked_batch: std::cell::Cell::new(0),
            pipeline: None,
            host: None,
        };
        for node in &graph.nodes {
            let step = match &node.op {
                Op::Input { .. } => Step::Input,
                Op::Conv2d(c) => {
                    let [o, i, kh, kw] = c.weight.shape[..] else {
                        unreachable!("verified")
                    };
                    Step::Conv {
                        weight: net.add_param(&c.weight),
                        bias: c.bias.as_ref().map(|b| net.add_param(b)),
                        shape: [o, i, kh, kw],
                        options: ConvOptions::new_with_padding(
                            c.stride,
                            padding_pairs(&c.padding),
                            c.dilation,
                            c.groups,
                        ),
                    }
                }
                Op::ConvTranspose2d(c) => {
                    let [i, o, kh, kw] = c.weight.shape[..] else {
                        unreachable!("verified")
                    };
                    Step::ConvTranspose {
                        weight: net.add_param(&c.weight),
                        bias: c.bias.as_ref().map(|b| net.add_param(b)),
                        shape: [i, o, kh, kw],
                        options: ConvTransposeOptions::new(
                            c.stride,
                            [0, 0],
                            c.output_padding,
                            c.dilation,
                            c.groups,
                        ),
                        crop: c.padding,
                    }
                }
                Op::BatchNorm2d(bn) => Step::BatchNorm {
                    gamma: {
                        let g = net.add_param(&bn.gamma);
                        net.gammas.push(g);
                        g
                    },
                    beta: net.add_param(&bn.beta),
                    stats: {
                        net.stats.push(net.tensor(&bn.mean));
                        net.stats.push(net.tensor(&bn.var));
                        net.stats.len() - 2
                    },
                    eps: bn.eps as f64,
                    momentum: bn.momentum as f64,
                },
                Op::LayerNorm(l) => Step::LayerNorm {
                    scale: net.add_param(&l.scale),
                    bias: net.add_param(&l.bias),
                    eps: l.eps as f64,
                },
                Op::Linear(l) => Step::Linear {
                    weight: net.add_param(&l.weight),
                    bias: l.bias.as_ref().map(|b| net.add_param(b)),
                    shape: [l.out_features(), l.in_features()],
                },
                Op::Constant { value } => Step::Constant(
                    Tensor::<1>::from_data(
                        TensorData::new(value.data.clone(), [value.len()]),
                        device,
                    )
                    .reshape(ops::padded(1, &value.shape)),
                ),
                op if op.arrays().is_empty() => Step::Plain(op.clone()),
                op => {
                    return Err(RuntimeError::Unsupported(format!(
                        "node '{}' is a {} with weights, which the runtime cannot run yet",
                        node.name,
                        op.type_name()
                    )));
                }
            };
            net.steps.push(step);
        }
        net.pipeline = crate::pipeline::compile(&net);
        Ok(net)
    }

    fn tensor(&self, a: &Array) -> Tensor<1> {
        Tensor::from_data(TensorData::new(a.data.clone(), [a.len()]), &self.device)
    }

    pub(crate) fn add_param(&mut self, a: &Array) -> usize {
        let t = self.tensor(a);
        let mask = a.mask.as_ref().map(|m| {
            let flags: Vec<f32> = m.iter().map(|&k| f32::from(u8::from(k))).collect();
            let device = self.device.clone().inner();
            Tensor::from_data(TensorData::new(flags, [m.len()]), &device)
        });
        self.masks.push(mask);
        self.frozen.push(false);
        self.host = None;
        self.params.push(if self.device.is_autodiff() {
            t.require_grad()
        } else {
            t
        });
        self.params.len() - 1
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Per-sample input shape, e.g. `[C, H, W]`.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Values per sample of the (first) output: the class count of a classifier.
    pub fn output_features(&self) -> usize {
        self.shapes[self.outputs[0].node].iter().product()
    }

    /// `[n, C, H, W]` of an input batch of `n` samples.
    pub fn input_dims(&self, n: usize) -> [usize; 4] {
        padded(n, &self.input_shape)
    }

    /// Per-sample shape of a node's output.
    pub fn output_shape(&self, node: usize) -> &[usize] {
        &self.shapes[node]
    }

    /// Per-sample shape of the first input of `node`.
    pub fn input_shape_of(&self, node: usize) -> &[usize] {
        &self.shapes[self.inputs[node][0].node]
    }

    /// The trainable parameters, flat, in graph order.
    pub fn params(&self) -> &[Tensor<1>] {
        &self.params
    }

    /// Per parameter, whether training leaves it as it is.
    pub fn frozen(&self) -> &[bool] {
        &self.frozen
    }

    /// Freezes the parameters of every layer of the kind `layers`: convolutions (with the
    /// normalisations) or fully connected layers.
    pub fn freeze(&mut self, layers: Freeze) {
        for step in &self.steps {
            let params: Vec<usize> = match (layers, step) {
                (Freeze::Conv, Step::Conv { weight, bias, .. })
                | (Freeze::Conv, Step::ConvTranspose { weight, bias, .. })
                | (Freeze::Linear, Step::Linear { weight, bias, .. }) => {
                    std::iter::once(*weight).chain(*bias).collect()
                }
                (Freeze::Conv, Step::BatchNorm { gamma, beta, .. }) => vec![*gamma, *beta],
                (Freeze::Conv, Step::LayerNorm { scale, bias, .. }) => vec![*scale, *bias],
                _ => Vec::new(),
            };
            params.into_iter().for_each(|p| self.frozen[p] = true);
        }
    }

    /// Per parameter, the 0/1 mask of the elements that must stay zero, if its array has one.
    pub fn masks(&self) -> &[Option<Tensor<1>>] {
        &self.masks
    }

    /// The sum of |gamma| over every batch norm: Network Slimming's sparsity penalty, `None`
    /// for a network without batch norm.
    pub fn bn_gamma_l1(&self) -> Option<Tensor<1>> {
        self.params_l1(self.gammas.iter().copied())
    }

    /// The sum of |value| over the parameters `indices`, `None` for none.
    pub(crate) fn params_l1(&self, indices: impl Iterator<Item = usize>) -> Option<Tensor<1>> {
        indices
            .map(|i| self.params[i].clone().abs().sum())
            .reduce(|a, b| a + b)
    }

    /// Replaces the parameters (an optimiser step). Must keep count and lengths.
    pub fn set_params(&mut self, params: Vec<Tensor<1>>) {
        debug_assert_eq!(params.len(), self.params.len());
        self.params = params;
        self.host = None;
    }

    /// Fails unless the model has exactly one input, as image classifiers do.
    pub fn check_single_input(&self) -> Result<(), RuntimeError> {
        if self.input_count != 1 {
            return Err(RuntimeError::Unsupported(format!(
                "the model has {} inputs; shears trains, evaluates and benchmarks models with one image input",
                self.input_count
            )));
        }
        Ok(())
    }

    /// Builds an input batch `[n, C, H, W]` from flat values, checking the per-sample shape.
    pub fn batch(
        &self,
        values: Vec<f32>,
        n: usize,
        shape: &[usize],
    ) -> Result<Tensor<4>, RuntimeError> {
        self.check_single_input()?;
        self.check_batch(n)?;
        if shape != self.input_shape.as_slice() {
            return Err(RuntimeError::InputShape {
                got: shape.to_vec(),
                expected: self.input_shape.clone(),
                hint: "use data of the model's input shape, or a model built for this data (a built-in takes `ArchSpec::input_shape`)".into(),
            });
        }
        Ok(Tensor::from_data(
            TensorData::new(values, padded(n, shape)),
            &self.device,
        ))
    }

    /// Refuses a batch of `n` samples whose activations would not fit in available memory.
    /// Checked once per new largest batch, so the training loop does not pay for it.
    pub fn check_batch(&self, n: usize) -> Result<(), RuntimeError> {
        if n != 0 && n <= self.checked_batch.get() {
            return Ok(());
        }
        let per_sample = self
            .shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum();
        crate::memory::check_batch(n, per_sample)?;
        self.checked_batch.set(n);
        Ok(())
    }

    /// Runs the network and returns the first output as `[N, outputs]`.
    pub fn forward(&mut self, x: Tensor<4>, mode: Mode) -> Tensor<2> {
        self.forward_tapped(x, mode, &TapSpec::default()).0
    }

    /// Whether the network is a classifier: one output of one value per class (`[K]` per
    /// sample).
    pub fn classifies(&self) -> bool {
        self.outputs.len() == 1 && self.shapes[self.outputs[0].node].len() == 1
    }

    /// Runs the network and returns every graph output as `[N, features]`, in the graph's
    /// order (a detector's heads, say).
    pub fn forward_outputs(&mut self, x: Tensor<4>, mode: Mode) -> Vec<Tensor<2>> {
        let batch = x.dims()[0];
        let mut run = Run::new(self.steps.len(), self.uses.clone(), batch);
        run.inputs = vec![x];
        self.execute(
            &mut run,
            0..self.steps.len(),
            mode,
            &TapSpec::default(),
            &[],
        );
        self.outputs
            .iter()
            .map(|o| {
                let value = run.values[o.node].clone().expect("output computed");
                let features = self.shapes[o.node].iter().product();
                value.reshape([batch, features])
            })
            .collect()
    }

    /// Runs the network, capturing the outputs (and gradient probes) of `taps.nodes`.
    /// In train mode BN layers use batch statistics and update their running statistics.
    pub fn forward_tapped(
        &mut self,
        x: Tensor<4>,
        mode: Mode,
        spec: &TapSpec,
    ) -> (Tensor<2>, Taps) {
        self.forward_inputs(vec![x], mode, spec)
    }

    /// Runs a network with several inputs, given in the order their
    /// `Input` nodes appear in the graph.
    pub fn forward_inputs(
        &mut self,
        inputs: Vec<Tensor<4>>,
        mode: Mode,
        spec: &TapSpec,
    ) -> (Tensor<2>, Taps) {
        if mode == Mode::Eval
            && spec.nodes.is_empty()
            && inputs.len() == 1
            && let Some(logits) = self.run_pipeline(&inputs[0])
        {
            return (logits, Taps::default());
        }
        let batch = inputs[0].dims()[0];
        let mut run = Run::new(self.steps.len(), self.uses.clone(), batch);
        run.inputs = inputs;
        let taps = self.execute(&mut run, 0..self.steps.len(), mode, spec, &[]);
        (self.logits(&mut run), taps)
    }

    /// Whether eval-mode passes with no taps run one image at a time through
    /// [`shears_kernels::Pipeline`] (on flex, without autodiff, for a network made only of
    /// the layers it runs, with no sparse kernels or Filter Skeletons).
    pub fn pipelined(&self) -> bool {
        self.pipeline.is_some() && self.plain_layers()
    }

    /// Whether no layer runs a sparse kernel or a Filter Skeleton.
    fn plain_layers(&self) -> bool {
        self.sparse.iter().all(Option::is_none) && self.skeletons.iter().all(Option::is_none)
    }

    /// The logits of `x` in eval mode through the one-image-at-a-time pipeline, when the
    /// network has one, runs neither sparse kernels nor Filter Skeletons, and `x` has the
    /// input's shape.
    fn run_pipeline(&mut self, x: &Tensor<4>) -> Option<Tensor<2>> {
        if !self.pipelined() || x.dims()[1..] != padded(1, &self.input_shape)[1..] {
            return None;
        }
        let pipeline = self.pipeline.as_ref()?;
        let host = HostParams::of(&mut self.host, &self.params);
        let params: Vec<&[f32]> = host.params.iter().map(Vec::as_slice).collect();
        let prepared = host
            .prepared
            .get_or_insert_with(|| pipeline.prepare(&params));
        let features = self.shapes[self.outputs[0].node].iter().product();
        let run = crate::pipeline::run(pipeline, (&params, prepared), x.clone(), features);
        Some(run)
    }

    /// The nodes from `start` on as a [`Suffix`] that [`Network::run_suffix`] runs from a
    /// [`Prefix`] made with the same `start`, many variants at once: per row, the first input
    /// of each node of `masked` scaled channel by channel (value by value for a flat one)
    /// and, if `unshare` (a convolution before `start`, whose input the prefix kept) is
    /// given, its output less the share of its input channels the row takes away. `None`
    /// when the one-image-at-a-time pipeline cannot run them (another device, autodiff, a
    /// layer it does not run) or the network runs sparse kernels or Filter Skeletons.
    pub fn suffix(&self, start: usize, masked: &[usize], unshare: Option<usize>) -> Option<Suffix> {
        let plain = self.plain_layers();
        plain
            .then(|| crate::pipeline::suffix(self, start, masked, unshare))
            .flatten()
    }

    /// The logits of `rows` rows of `suffix` on the host, `[rows, outputs]`: row `r`
    /// continues sample `r % n` of `prefix`'s batch of `n` with row `r` of each factor array
    /// (one per [`Suffix::factor_nodes`], [`Suffix::factor_widths`] factors a row: 1 keeps a
    /// channel, 0 removes it). Panics if `prefix` lacks a value the suffix reads or a length
    /// does not match.
    pub fn run_suffix(
        &mut self,
        suffix: &Suffix,
        prefix: &Prefix,
        factors: &[&[f32]],
        rows: usize,
    ) -> Vec<f32> {
        let host = HostParams::of(&mut self.host, &self.params);
        let params: Vec<&[f32]> = host.params.iter().map(Vec::as_slice).collect();
        crate::pipeline::run_suffix(suffix, &params, prefix, factors, rows)
    }

    /// Runs the nodes before `start` in eval mode and keeps what the nodes from `start` on
    /// read, so that [`Network::forward_suffix`] can finish the pass many times over. The
    /// values of the nodes in `keep` are kept too ([`Prefix::kept`]), read later or not.
    pub fn forward_prefix(&mut self, x: Tensor<4>, start: usize, keep: &[usize]) -> Prefix {
        let batch = x.dims()[0];
        let mut run = Run::new(self.steps.len(), self.uses.clone(), batch);
        run.inputs = vec![x];
        run.keep = keep.to_vec();
        let start = start.min(self.steps.len());
        self.execute(&mut run, 0..start, Mode::Eval, &TapSpec::default(), &[]);
        Prefix { run, start }
    }

    /// Finishes a pass begun by [`Network::forward_prefix`] on `replicas` stacked copies of its
    /// batch (copy `r` is rows `r * n .. (r + 1) * n`), in eval mode, and returns the logits
    /// `[replicas * n, outputs]`.
    ///
    /// - `value_deltas`: `(m, delta)` adds `delta` (`[replicas * n, ...]`) to the stacked value
    ///   of node `m`, computed before `start`, before any later node reads it.
    /// - `input_masks`: `(m, mask)` multiplies the first input of node `m` (from `start` on) by
    ///   `mask`, which must broadcast against it (`[replicas * n, C, 1, 1]` zeroes chosen
    ///   channels per copy).
    pub fn forward_suffix(
        &mut self,
        prefix: &Prefix,
        replicas: usize,
        value_deltas: &[(usize, Tensor<4>)],
        input_masks: &[(usize, Tensor<4>)],
    ) -> Tensor<2> {
        let mut run = Run::new(
            self.steps.len(),
            prefix.run.remaining.clone(),
            prefix.run.batch * replicas,
        );
        run.values = prefix
            .run
            .values
            .iter()
            .map(|v| v.as_ref().map(|t| repeat_batch(t, replicas)))
            .collect();
        for (node, delta) in value_deltas {
            if let Some(v) = run.values[*node].take() {
                run.values[*node] = Some(v + delta.clone());
            }
        }
        let nodes = prefix.start..self.steps.len();
        self.execute(
            &mut run,
            nodes,
            Mode::Eval,
            &TapSpec::default(),
            input_masks,
        );
        self.logits(&mut run)
    }

    /// Runs `nodes` in order, reading and storing values in `run`.
    fn execute(
        &mut self,
        run: &mut Run,
        nodes: std::ops::Range<usize>,
        mode: Mode,
        spec: &TapSpec,
        input_masks: &[(usize, Tensor<4>)],
    ) -> Taps {
        let train = mode == Mode::Train;
        let mut taps = Taps::default();
        let mut inputs = std::mem::take(&mut run.inputs).into_iter();
        let end = nodes.end;
        for node in nodes {
            // A ReLU applied inside the kernel of the layer it reads already holds its value.
            if run.values[node].is_some() {
                continue;
            }
            let mut args = Vec::with_capacity(self.inputs[node].len());
            for outlet in &self.inputs[node] {
                run.remaining[outlet.node] -= 1;
                let value = if run.remaining[outlet.node] == 0 {
                    let last = run.values[outlet.node].take();
                    if run.keep.contains(&outlet.node)
                        && let Some(v) = &last
                    {
                        run.kept.push((outlet.node, v.clone()));
                    }
                    last
                } else {
                    run.values[outlet.node].clone()
                };
                args.push(value.expect("inputs are computed before use"));
            }
            if let Some((_, mask)) = input_masks.iter().find(|(m, _)| *m == node) {
                args[0] = args[0].clone() * mask.clone();
            }
            let relu = self.fused_relu(node, train, end, run, spec, input_masks);
            let activation = match relu {
                Some(_) => Activation::Relu,
                None => Activation::None,
            };
            let mut out = match &self.steps[node] {
                Step::Input => inputs.next().expect("one tensor per graph input"),
                _ => self.run_step(node, args, run.batch, train, activation),
            };
            if spec.nodes.contains(&node) {
                if spec.gradients {
                    let probe = Tensor::zeros(out.dims(), &self.device).require_grad();
                    out = out + probe.clone();
                    taps.probes.push((node, probe));
                }
                taps.activations.push((node, out.clone()));
            }
            run.values[relu.unwrap_or(node)] = Some(out);
        }
        taps
    }

    /// The ReLU that `node`'s kernel applies in this pass, if any: its only reader, inside the
    /// nodes run (before `end`), neither tapped, kept nor masked, after a layer whose kernel
    /// fuses it (a convolution on shears' kernels, batch norm while training, or an add of
    /// two same-shaped tensors).
    fn fused_relu(
        &self,
        node: usize,
        train: bool,
        end: usize,
        run: &Run,
        spec: &TapSpec,
        input_masks: &[(usize, Tensor<4>)],
    ) -> Option<usize> {
        let relu = self.relu_readers[node]?;
        let plain = relu < end
            && !spec.nodes.contains(&node)
            && !spec.nodes.contains(&relu)
            && !run.keep.contains(&node)
            && !input_masks.iter().any(|(m, _)| *m == relu);
        let fuses = match &self.steps[node] {
            Step::Conv { .. } => self.on_kernels(node) && (train || self.sparse[node].is_none()),
            Step::BatchNorm { .. } => train && self.kernels,
            Step::Plain(Op::Add) => self.kernels && self.same_shaped_inputs(node),
            _ => false,
        };
        (plain && fuses).then_some(relu)
    }

    /// Whether every input of `node` has its output's shape (no broadcasting).
    fn same_shaped_inputs(&self, node: usize) -> bool {
        let shape = &self.shapes[node];
        self.inputs[node]
            .iter()
            .all(|outlet| self.shapes[outlet.node] == *shape)
    }

    /// Whether conv `node` runs on shears' kernels: on flex and not depthwise (a grouped
    /// convolution with one input channel per group keeps flex's direct kernel; a plain one
    /// reading one channel, as on a grayscale image, runs on shears').
    fn on_kernels(&self, node: usize) -> bool {
        matches!(&self.steps[node], Step::Conv { shape, options, .. }
            if self.kernels && (shape[1] > 1 || options.groups == 1))
    }

    /// The first output of a finished run as `[N, outputs]`.
    fn logits(&self, run: &mut Run) -> Tensor<2> {
        let output = self.outputs[0];
        let logits = run.values[output.node].take().expect("output computed");
        let n = logits.dims()[0];
        logits.reshape([n, self.output_features()])
    }

    /// Runs `node` on `args`; `activation` is applied by the kernel (see [`Network::fused_relu`]).
    fn run_step(
        &mut self,
        node: usize,
        mut args: Vec<Tensor<4>>,
        batch: usize,
        train: bool,
        activation: Activation,
    ) -> Tensor<4> {
        if let Step::BatchNorm {
            gamma,
            beta,
            stats,
            eps,
            momentum,
        } = self.steps[node]
        {
            return self.batch_norm(
                args.swap_remove(0),
                [gamma, beta, stats],
                (eps, momentum),
                train,
                activation,
            );
        }
        if let (false, Some(sparse)) = (train, &self.sparse[node]) {
            return sparse.forward(args.swap_remove(0), &self.shapes[node]);
        }
        let p = |i: usize| self.params[i].clone();
        match &self.steps[node] {
            Step::Input => unreachable!("handled by the caller"),
            Step::Conv {
                weight,
                bias,
                shape,
                options,
            } => {
                let (x, mut w) = (args.swap_remove(0), p(*weight).reshape(*shape));
                if let Some(s) = self.skeletons[node] {
                    // SWP: each kernel position of each filter scaled across its inputs.
                    w = w * p(s).reshape([shape[0], 1, shape[2], shape[3]]);
                }
                if self.on_kernels(node) {
                    let b = bias
                        .map(p)
                        .unwrap_or_else(|| Tensor::zeros([shape[0]], &self.device));
                    kernels::conv2d(x, w, b, options.clone(), activation)
                } else {
                    conv2d(x, w, bias.map(p), options.clone())
                }
            }
            Step::ConvTranspose {
                weight,
                bias,
                shape,
                options,
                crop: [top, left, bottom, right],
            } => {
                let y = conv_transpose2d(
                    args.swap_remove(0),
                    p(*weight).reshape(*shape),
                    bias.map(p),
                    options.clone(),
                );
                let [_, _, h, w] = y.dims();
                y.narrow(2, *top, h - top - bottom)
                    .narrow(3, *left, w - left - right)
            }
            Step::LayerNorm { scale, bias, eps } => {
                let x = args.swap_remove(0);
                let c = x.dims()[1];
                let mean = x.clone().mean_dim(1);
                let centred = x - mean;
                let var = centred.clone().powf_scalar(2.0).mean_dim(1);
                let normalised = centred / (var + *eps).sqrt();
                normalised * p(*scale).reshape([1, c, 1, 1]) + p(*bias).reshape([1, c, 1, 1])
            }
            Step::Linear {
                weight,
                bias,
                shape,
            } => {
                let x = args.swap_remove(0).reshape([batch, shape[1]]);
                let mut y = x.matmul(p(*weight).reshape(*shape).transpose());
                if let Some(b) = bias {
                    y = y + p(*b).unsqueeze::<2>();
                }
                y.reshape([batch, shape[0], 1, 1])
            }
            Step::BatchNorm { .. } => unreachable!("handled above"),
            Step::Constant(value) => value.clone(),
            Step::Plain(Op::Add) if activation == Activation::Relu => {
                let b = args.swap_remove(1);
                kernels::add(args.swap_remove(0), b, activation)
            }
            Step::Plain(op) => {
                if matches!(op, Op::Add | Op::Mul | Op::Sub | Op::Div) {
                    let rank = self.shapes[node].len();
                    args = args
                        .into_iter()
                        .zip(&self.inputs[node])
                        .map(|(a, outlet)| align_for_broadcast(a, &self.shapes[outlet.node], rank))
                        .collect();
                }
                ops::apply(op, args, &self.shapes[node], train)
            }
        }
    }

    /// Batch norm with running statistics (eval) or batch statistics that also update the
    /// running ones, PyTorch's way: unbiased variance, `momentum` weighting the new batch.
    /// `activation` (only while training on shears' kernels) is applied in the same pass.
    fn batch_norm(
        &mut self,
        x: Tensor<4>,
        [gamma, beta, stats]: [usize; 3],
        (eps, momentum): (f64, f64),
        train: bool,
        activation: Activation,
    ) -> Tensor<4> {
        let (gamma, beta) = (self.params[gamma].clone(), self.params[beta].clone());
        if !train {
            let (mean, var) = (self.stats[stats].clone(), self.stats[stats + 1].clone());
            return batch_norm(x, gamma, beta, mean, var, eps);
        }
        let [n, _, h, w] = x.dims();
        let (output, mean, variance) = if self.kernels {
            kernels::batch_norm_train(x, gamma, beta, eps, activation)
        } else {
            let out = batch_norm_train(x, gamma, beta, eps);
            (out.output, out.mean, out.variance)
        };
        let count = (n * h * w) as f64;
        let unbiased = variance.inner() * (count / (count - 1.0).max(1.0));
        let update = |running: &Tensor<1>, batch_stat: Tensor<1>| {
            running.clone() * (1.0 - momentum) + batch_stat * momentum
        };
        self.stats[stats] = update(&self.stats[stats], mean.inner());
        self.stats[stats + 1] = update(&self.stats[stats + 1], unbiased);
        output
    }

    /// Copies the current weights and BN statistics back into `graph`, which must be the graph
    /// this network was compiled from.
    pub fn write_back(&self, graph: &mut Graph) {
        let read = |t: &Tensor<1>| host_values(t.clone());
        self.write_arrays(graph, |i| read(&self.params[i]), |i| read(&self.stats[i]));
        self.fold_skeletons(graph);
    }

    /// The gradient behind `grads` of each parameter on the host, in the order of
    /// [`Network::params`]; zeros for a parameter without one.
    pub fn gradients(&self, grads: &Gradients) -> Vec<Vec<f32>> {
        self.params
            .iter()
            .map(|p| {
                p.grad(grads)
                    .map(host_values)
                    .unwrap_or_else(|| vec![0.0; p.dims()[0]])
            })
            .collect()
    }

    /// Writes `values` (one vector per parameter, as [`Network::gradients`] gives) into the
    /// weights of `graph`, the graph this network was compiled from, and zeroes its BN
    /// statistics: a graph of gradients that weight criteria read like weights.
    pub fn write_param_values(&self, graph: &mut Graph, values: &[Vec<f32>]) {
        debug_assert_eq!(values.len(), self.params.len());
        let zeros = |i: usize| vec![0.0; self.stats[i].dims()[0]];
        self.write_arrays(graph, |i| values[i].clone(), zeros);
    }

    /// Sets every weight array of `graph` from `param(index)` and every BN statistic from
    /// `stat(index)`, indices being those of the flat parameter and statistic lists.
    fn write_arrays(
        &self,
        graph: &mut Graph,
        param: impl Fn(usize) -> Vec<f32>,
        stat: impl Fn(usize) -> Vec<f32>,
    ) {
        for (node, step) in graph.nodes.iter_mut().zip(&self.steps) {
            match (&mut node.op, step) {
                (Op::Conv2d(c), Step::Conv { weight, bias, .. }) => {
                    c.weight.data = param(*weight);
                    if let (Some(b), Some(i)) = (&mut c.bias, bias) {
                        b.data = param(*i);
                    }
                }
                (Op::ConvTranspose2d(c), Step::ConvTranspose { weight, bias, .. }) => {
                    c.weight.data = param(*weight);
                    if let (Some(b), Some(i)) = (&mut c.bias, bias) {
                        b.data = param(*i);
                    }
                }
                (Op::LayerNorm(l), Step::LayerNorm { scale, bias, .. }) => {
                    l.scale.data = param(*scale);
                    l.bias.data = param(*bias);
                }
                (Op::Linear(l), Step::Linear { weight, bias, .. }) => {
                    l.weight.data = param(*weight);
                    if let (Some(b), Some(i)) = (&mut l.bias, bias) {
                        b.data = param(*i);
                    }
                }
                (
                    Op::BatchNorm2d(bn),
                    Step::BatchNorm {
                        gamma, beta, stats, ..
                    },
                ) => {
                    bn.gamma.data = param(*gamma);
                    bn.beta.data = param(*beta);
                    bn.mean.data = stat(*stats);
                    bn.var.data = stat(stats + 1);
                }
                (_, Step::Input | Step::Constant(_) | Step::Plain(_)) => {}
                (
                    _,
                    Step::Conv { .. }
                    | Step::ConvTranspose { .. }
                    | Step::LayerNorm { .. }
                    | Step::Linear { .. }
                    | Step::BatchNorm { .. },
                ) => {
                    unreachable!("each step is built from its node's op")
                }
            }
        }
    }
}

/// The values of a forward pass under way.
struct Run {
    values: Vec<Option<Tensor<4>>>,
    /// Reads still to come of each node's value; a value is dropped after its last read.
    remaining: Vec<usize>,
    /// Graph inputs not yet consumed.
    inputs: Vec<Tensor<4>>,
    batch: usize,
    /// Nodes whose values are put aside when their last reader takes them.
    keep: Vec<usize>,
    kept: Vec<(usize, Tensor<4>)>,
}

impl Run {
    fn new(nodes: usize, remaining: Vec<usize>, batch: usize) -> Self {
        Self {
            values: vec![None; nodes],
            remaining,
            inputs: Vec::new(),
            batch,
            keep: Vec::new(),
            kept: Vec::new(),
        }
    }
}

/// A forward pass stopped before node `start`: the values later nodes still read.
pub struct Prefix {
    run: Run,
    start: usize,
}

impl Prefix {
    /// Samples in its batch.
    pub fn batch(&self) -> usize {
        self.run.batch
    }

    /// The value of `node`, if it was asked to be kept (or later nodes read it) and was
    /// computed.
    pub fn kept(&self, node: usize) -> Option<&Tensor<4>> {
        self.run
            .kept
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, t)| t)
            .or_else(|| self.run.values.get(node)?.as_ref())
    }
}

/// `replicas` copies of `t` stacked along the batch axis.
fn repeat_batch(t: &Tensor<4>, replicas: usize) -> Tensor<4> {
    if replicas == 1 {
        t.clone()
    } else {
        Tensor::cat(vec![t.clone(); replicas], 0)
    }
}

fn use_counts(graph: &Graph) -> Vec<usize> {
    let mut uses = vec![0; graph.nodes.len()];
    for outlet in graph
        .nodes
        .iter()
        .flat_map(|n| &n.inputs)
        .chain(&graph.outputs)
    {
        uses[outlet.node] += 1;
    }
    uses
}

/// A tensor's values on the host, without autodiff.
pub fn host_values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.inner()
        .into_data()
        .try_into_vec::<f32>()
        .expect("shears tensors hold f32")
}
