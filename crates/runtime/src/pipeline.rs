//! Eval-mode inference on shears' kernels one image at a time ([`shears_kernels::Pipeline`]),
//! for networks made only of the layers it runs (convolutions, ReLU, residual adds, global
//! average pooling, flatten and small linear layers; the identities a folded BN leaves are
//! skipped): every activation of an image stays in its core's cache, with no copies between
//! layers. Any other network, and any pass that taps, masks or trains, keeps the
//! layer-by-layer path.
//!
//! A [`Suffix`] is the same for the nodes from some node on, run from the values a
//! [`Prefix`] computed, many variants at once: each row of a run scales chosen channels where
//! chosen nodes read them, and withdraws chosen input channels' share of a convolution
//! computed in the prefix (the oracle's probes, one channel removed per row).

use crate::kernels;
use crate::network::{Network, Prefix, Step, host_values};
use burn::tensor::{Tensor, TensorData};
use shears_ir::Op;
use shears_kernels::{Node, Pipeline, Prepared, Rows};

/// The nodes from `start` on as a pipeline that takes the values earlier nodes computed.
pub struct Suffix {
    pipeline: Pipeline,
    /// The nodes whose values the pipeline's inputs take, in order.
    fed: Vec<usize>,
    /// Per factor array of a run, the node it belongs to: the convolution whose input
    /// channels' share it withdraws, or the node whose first input it scales.
    factor_nodes: Vec<usize>,
}

impl Suffix {
    /// Per factor array [`Network::run_suffix`] takes, in order, the node it belongs to.
    pub fn factor_nodes(&self) -> &[usize] {
        &self.factor_nodes
    }

    /// Per factor array, the factors of one row: the channels of the value a mask scales
    /// (the values of a flat one), or the input channels of an unshared convolution.
    pub fn factor_widths(&self) -> &[usize] {
        self.pipeline.factor_widths()
    }
}

/// What a [`Suffix`] starts from and changes.
struct Cut<'a> {
    start: usize,
    masked: &'a [usize],
    unshare: Option<usize>,
}

/// The pipeline of `net`, when it runs on shears' kernels without autodiff and every node is
/// one the pipeline runs.
pub(crate) fn compile(net: &Network) -> Option<Pipeline> {
    let whole = Cut {
        start: 0,
        masked: &[],
        unshare: None,
    };
    build(net, &whole).map(|s| s.pipeline)
}

/// The nodes of `net` from `start` on as a [`Suffix`], with the first input of each node of
/// `masked` scaled per row and, if `unshare` (a convolution before `start`) is given, its
/// output less the share of its input channels each row's factors take away.
pub(crate) fn suffix(
    net: &Network,
    start: usize,
    masked: &[usize],
    unshare: Option<usize>,
) -> Option<Suffix> {
    let before = unshare.is_none_or(|u| u < start);
    let cut = Cut {
        start,
        masked,
        unshare,
    };
    before.then(|| build(net, &cut)).flatten()
}

fn build(net: &Network, cut: &Cut) -> Option<Suffix> {
    if !kernels::runs_on(net.device()) || net.device().is_autodiff() || net.outputs.len() != 1 {
        return None;
    }
    let mut b = Builder {
        net,
        index: vec![None; net.steps.len()],
        nodes: Vec::new(),
        fed: Vec::new(),
        factor_nodes: Vec::new(),
    };
    for n in cut.start..net.steps.len() {
        let mut reads = Vec::new();
        for outlet in &net.inputs[n] {
            (outlet.slot == 0).then_some(())?;
            reads.push(b.read(outlet.node, cut)?);
        }
        if cut.masked.contains(&n) {
            b.push(Node::Mask, vec![*reads.first()?]);
            b.factor_nodes.push(n);
            reads[0] = b.nodes.len() - 1;
        }
        if let (Step::Plain(Op::Identity | Op::Dropout { .. }), [input]) =
            (&net.steps[n], &reads[..])
        {
            b.index[n] = Some(*input);
            continue;
        }
        let node = match &net.steps[n] {
            Step::Input => Node::Input {
                shape: net.input_shape().to_vec(),
            },
            _ => pipeline_node(net, n)?,
        };
        if matches!(node, Node::Input { .. }) {
            b.fed.push(n);
        }
        b.push(node, reads);
        b.index[n] = Some(b.nodes.len() - 1);
    }
    let output = net.outputs[0];
    (output.slot == 0).then_some(())?;
    let pipeline = Pipeline::new(&b.nodes, b.index[output.node]?)?;
    Some(Suffix {
        pipeline,
        fed: b.fed,
        factor_nodes: b.factor_nodes,
    })
}

/// A suffix's pipeline nodes as they are made.
struct Builder<'a> {
    net: &'a Network,
    /// Per network node, its pipeline node.
    index: Vec<Option<usize>>,
    nodes: Vec<(Node, Vec<usize>)>,
    fed: Vec<usize>,
    factor_nodes: Vec<usize>,
}

impl Builder<'_> {
    fn push(&mut self, node: Node, reads: Vec<usize>) {
        self.nodes.push((node, reads));
    }

    /// The pipeline node of network node `n`'s value: for a node before the cut, an input
    /// (made at its first read), through an unshare if it is the unshared convolution.
    fn read(&mut self, n: usize, cut: &Cut) -> Option<usize> {
        if let Some(i) = self.index[n] {
            return Some(i);
        }
        (n < cut.start).then_some(())?;
        let mut i = self.input(n);
        if cut.unshare == Some(n) {
            let Node::Conv { conv, weight, .. } = pipeline_node(self.net, n)? else {
                return None;
            };
            let x = self.input(self.net.inputs[n].first()?.node);
            self.push(Node::Unshare { conv, weight }, vec![i, x]);
            self.factor_nodes.push(n);
            i = self.nodes.len() - 1;
        }
        self.index[n] = Some(i);
        Some(i)
    }

    /// An input that takes network node `n`'s value.
    fn input(&mut self, n: usize) -> usize {
        let shape = self.net.output_shape(n).to_vec();
        self.push(Node::Input { shape }, Vec::new());
        self.fed.push(n);
        self.nodes.len() - 1
    }
}

/// Node `n` as the pipeline runs it, if it can (not an input or an identity).
fn pipeline_node(net: &Network, n: usize) -> Option<Node> {
    Some(match &net.steps[n] {
        Step::Conv {
            weight,
            bias,
            shape,
            options,
        } => {
            let x = net.input_shape_of(n);
            (x.len() == 3).then_some(())?;
            Node::Conv {
                conv: kernels::geometry(&[1, x[0], x[1], x[2]], shape, options),
                weight: *weight,
                bias: *bias,
            }
        }
        Step::Linear {
            weight,
            bias,
            shape,
        } => Node::Linear {
            weight: *weight,
            bias: *bias,
            out_features: shape[0],
        },
        Step::Plain(Op::Relu) => Node::Relu,
        Step::Plain(Op::Add) => Node::Add,
        Step::Plain(Op::GlobalAvgPool) => Node::GlobalAvgPool,
        Step::Plain(Op::Flatten { axis: 1 }) => Node::Flatten,
        _ => return None,
    })
}

/// The logits of batch `x` through `pipeline`, with `weights` the network's parameters on
/// the host and the pipeline's prepared weights.
pub(crate) fn run(
    pipeline: &Pipeline,
    weights: (&[&[f32]], &Prepared),
    x: Tensor<4>,
    features: usize,
) -> Tensor<2> {
    let [batch, ..] = x.dims();
    let device = x.device();
    let x = host_values(x);
    let rows = Rows {
        inputs: &[&x],
        samples: batch,
        factors: &[],
        rows: batch,
    };
    let y = pipeline.run_rows(weights, &rows);
    Tensor::from_data(TensorData::new(y, [batch, features]), &device)
}

/// The outputs of `rows` rows of `suffix` on the host: row `r` starts from sample `r % n`
/// of `prefix`'s batch of `n` and takes row `r` of each of `factors`.
pub(crate) fn run_suffix(
    suffix: &Suffix,
    params: &[&[f32]],
    prefix: &Prefix,
    factors: &[&[f32]],
    rows: usize,
) -> Vec<f32> {
    let values: Vec<Vec<f32>> = suffix
        .fed
        .iter()
        .map(|n| {
            host_values(
                prefix
                    .kept(*n)
                    .expect("the prefix keeps what the suffix reads")
                    .clone(),
            )
        })
        .collect();
    let inputs: Vec<&[f32]> = values.iter().map(Vec::as_slice).collect();
    let rows = Rows {
        inputs: &inputs,
        samples: prefix.batch(),
        factors,
        rows,
    };
    let prepared = suffix.pipeline.prepare(params);
    suffix.pipeline.run_rows((params, &prepared), &rows)
}
