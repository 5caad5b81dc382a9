//! The oracle: the real loss change when one channel is removed alone (|ΔC| of Molchanov et
//! al. 2017), the ranking every other criterion is judged against.
//!
//! The naive oracle masks channel `c` of a group in a copy of the graph, compiles it and runs
//! every scoring batch through it: one full forward pass per channel. The fast oracle gives the
//! same answer with far less work:
//!
//! - **Zeroing where the channel is read.** Removing a channel is the same as zeroing it at the
//!   inputs of the group's reader layers (the argument in [`crate::surgery`]), so the network is
//!   compiled once and a probe is a multiplicative mask on those inputs.
//! - **Caching the prefix.** Nothing before the group's first reader changes, so per group and
//!   batch the network runs up to that reader once ([`Network::forward_prefix`]) and every probe
//!   recomputes only the rest ([`Network::forward_suffix`]). A conv reader is linear in its
//!   input channels: the prefix runs it too, and a probe subtracts the removed channel's share
//!   of its output, one input channel's worth of work instead of the whole conv.
//! - **Batching the probes.** Several probes share one pass: each row of the pass is one
//!   sample under one probe. Where the network runs on the one-image-at-a-time pipeline (the
//!   ResNets, BN folded), a row starts from the sample's cached values and the pipeline masks
//!   and withdraws the row's channel itself ([`Network::suffix`]): no stacked copies, and
//!   every row's activations stay in its core's cache. Elsewhere the cached values are
//!   stacked once per probe and each copy masks a different channel.
//! - **Reusing the data.** The scoring batches are loaded once for every group and probe.
//!
//! Both fold batch norm into the convs first; the losses agree up to the order of
//! floating-point sums, which a test checks, and a channel whose removal changes nothing scores
//! exactly 0 on both.

use super::probe::ScoreData;
use super::{GroupScores, Importance, ScoreContext};
use crate::{ChannelGroup, Member, MemberKind, PruneError, mask_group};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Int, Tensor, TensorData};
use shears_data::Batch;
use shears_ir::{Conv2d, Graph, Op};
use shears_runtime::{Mode, Network, Prefix, Suffix, host_values};

/// |ΔC| per channel, by removing channels one at a time.
pub struct Oracle {
    data: ScoreData,
    fast: bool,
    /// Rows (samples × probes) per pass of the fast path where it stacks copies of the
    /// cached values (networks the one-image-at-a-time pipeline does not run).
    pub rows_per_pass: usize,
}

impl Oracle {
    /// The fast oracle.
    pub fn new(data: ScoreData) -> Self {
        Self {
            data,
            fast: true,
            rows_per_pass: 512,
        }
    }

    /// The brute-force oracle, one full pass per channel: the reference for the fast one.
    pub fn naive(data: ScoreData) -> Self {
        Self {
            fast: false,
            ..Self::new(data)
        }
    }
}

impl Importance for Oracle {
    fn name(&self) -> String {
        "oracle".into()
    }

    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        let batches = self.data.load()?;
        let device = self.data.device.device()?;
        let folded = ctx.graph.fold_batch_norms();
        let mut net = Network::new(&folded, &device)?;
        let samples: usize = batches.iter().map(|b| b.n).sum();
        let mean = |total: f64| total / samples as f64;
        let naive_base = if self.fast {
            0.0
        } else {
            total_loss(&mut net, &batches)?
        };
        groups
            .iter()
            .map(|group| {
                let (base, losses) = if self.fast {
                    self.fast_losses(&mut net, &folded, group, &batches)?
                } else {
                    (
                        naive_base,
                        naive_losses(ctx.graph, group, &batches, &device)?,
                    )
                };
                Ok(Some(
                    losses
                        .into_iter()
                        .map(|l| (mean(l) - mean(base)).abs() as f32)
                        .collect(),
                ))
            })
            .collect()
    }
}

impl Oracle {
    /// The total loss over `batches` of the unchanged network and with each channel of
    /// `group` removed, in turn. The unchanged network runs as one more probe, in the same
    /// pass as the first channels, so that a channel whose removal changes nothing scores
    /// exactly 0.
    ///
    /// When the group's first reader is an ungrouped conv, the prefix runs through it and a
    /// probe subtracts the removed channel's share of its output (that channel convolved alone
    /// with its weights, a 1/C_in of the conv's work); later readers see the channel masked.
    fn fast_losses(
        &self,
        net: &mut Network,
        folded: &Graph,
        group: &ChannelGroup,
        batches: &[Batch],
    ) -> Result<(f64, Vec<f64>), PruneError> {
        let mut readers: Vec<&Member> = group
            .members
            .iter()
            .filter(|m| !m.kind.is_producer())
            .collect();
        readers.sort_by_key(|m| m.node);
        let Some(&first) = readers.first() else {
            return Ok((0.0, vec![0.0; group.channels]));
        };
        // A layer that reads the group at several offsets (behind a grouped conv's ties) is
        // masked like the later readers.
        let reads_once = readers.iter().filter(|m| m.node == first.node).count() == 1;
        let first_conv = match (first.kind, &folded.nodes[first.node].op) {
            (MemberKind::Reads { .. }, Op::Conv2d(c)) if c.groups == 1 && reads_once => Some(c),
            _ => None,
        };
        let first_input = folded.nodes[first.node].inputs[0].node;
        let (start, masked) = match first_conv {
            Some(_) => (first.node + 1, &readers[1..]),
            None => (first.node, &readers[..]),
        };
        // `None` is the unchanged network.
        let probes: Vec<Option<usize>> = std::iter::once(None)
            .chain((0..group.channels).map(Some))
            .collect();
        let unshared = first_conv.map(|conv| (first, conv));
        let suffix = Passes::suffix(net, start, masked, unshared.map(|u| u.0));
        let passes = Passes {
            readers: &readers,
            masked,
            unshared: unshared.map(|(first, conv)| (first, conv, first_input)),
            suffix: suffix.filter(|s| factors_fit(net, s, &readers)),
        };
        let mut totals = Totals {
            base: 0.0,
            losses: vec![0.0; group.channels],
        };
        for batch in batches {
            let x = net.batch(batch.images.clone(), batch.n, &batch.shape)?;
            let prefix = net.forward_prefix(x, start, &[first_input]);
            for probes in probes.chunks(passes.per_pass(self.rows_per_pass, batch.n)) {
                let logits = passes.logits(net, &prefix, probes, batch.n);
                totals.add(&logits, probes, &batch.labels);
            }
        }
        Ok((totals.base, totals.losses))
    }
}

/// How one group's probes run after the cached prefix: on the one-image-at-a-time pipeline
/// when the network runs there, else layer by layer on stacked copies.
struct Passes<'a> {
    /// The group's readers, in graph order.
    readers: &'a [&'a Member],
    /// The readers whose input a probe masks.
    masked: &'a [&'a Member],
    /// The first reader, when the prefix ran through it (an ungrouped conv whose output a
    /// probe corrects by the removed channel's share), with its conv and its input's node.
    unshared: Option<(&'a Member, &'a Conv2d, usize)>,
    suffix: Option<Suffix>,
}

impl Passes<'_> {
    /// The pipeline of the nodes from `start` on, masking the input of each of `masked` and
    /// withdrawing the removed channel's share from `unshared`'s output.
    fn suffix(
        net: &Network,
        start: usize,
        masked: &[&Member],
        unshared: Option<&Member>,
    ) -> Option<Suffix> {
        let nodes: Vec<usize> = masked
            .chunk_by(|a, b| a.node == b.node)
            .map(|on| on[0].node)
            .collect();
        net.suffix(start, &nodes, unshared.map(|m| m.node))
    }

    /// Probes per pass over a batch of `n`: all of them on the pipeline, which makes no copy
    /// per probe (its prefix values and weights are then taken to the host once per batch),
    /// else as many as `rows_per_pass` rows of stacked copies hold.
    fn per_pass(&self, rows_per_pass: usize, n: usize) -> usize {
        match self.suffix {
            Some(_) => usize::MAX,
            None => (rows_per_pass / n).max(1),
        }
    }

    /// The logits of `probes` on `prefix`'s batch of `n`: `n` rows per probe in turn.
    fn logits(
        &self,
        net: &mut Network,
        prefix: &Prefix,
        probes: &[Option<usize>],
        n: usize,
    ) -> Vec<f32> {
        let Some(suffix) = &self.suffix else {
            return self.layered(net, prefix, probes, n);
        };
        let factors: Vec<Vec<f32>> = suffix
            .factor_nodes()
            .iter()
            .map(|&node| {
                let on = self.readers.iter().copied().filter(|m| m.node == node);
                reader_factors(net, &on.collect::<Vec<_>>(), probes, n).0
            })
            .collect();
        let factors: Vec<&[f32]> = factors.iter().map(Vec::as_slice).collect();
        net.run_suffix(suffix, prefix, &factors, probes.len() * n)
    }

    /// [`Passes::logits`] layer by layer, on `probes.len()` stacked copies of the prefix.
    fn layered(
        &self,
        net: &mut Network,
        prefix: &Prefix,
        probes: &[Option<usize>],
        n: usize,
    ) -> Vec<f32> {
        let share = self.unshared.and_then(|(first, conv, input)| {
            let input = prefix.kept(input)?;
            Some((first.node, removal_delta(conv, input, first, probes)))
        });
        let masks: Vec<(usize, Tensor<4>)> = self
            .masked
            .chunk_by(|a, b| a.node == b.node)
            .map(|on| (on[0].node, reader_mask(net, on, probes, n)))
            .collect();
        let deltas: Vec<(usize, Tensor<4>)> = share.into_iter().collect();
        host_values(net.forward_suffix(prefix, probes.len(), &deltas, &masks))
    }
}

/// The summed losses of the unchanged network and of each channel's removal.
struct Totals {
    base: f64,
    losses: Vec<f64>,
}

impl Totals {
    /// Adds the losses of `logits`, `n` rows (one batch, `labels`) per probe in turn.
    fn add(&mut self, logits: &[f32], probes: &[Option<usize>], labels: &[i64]) {
        let n = labels.len();
        let classes = logits.len() / (probes.len() * n);
        for (r, c) in probes.iter().enumerate() {
            let block = &logits[r * n * classes..][..n * classes];
            let loss = cross_entropy_sum(block, classes, labels);
            match c {
                Some(c) => self.losses[*c] += loss,
                None => self.base += loss,
            }
        }
    }
}

/// Whether the factors the oracle makes for each of `suffix`'s factor nodes (the readers of
/// the group there) have the widths the suffix takes.
fn factors_fit(net: &Network, suffix: &Suffix, readers: &[&Member]) -> bool {
    suffix
        .factor_nodes()
        .iter()
        .zip(suffix.factor_widths())
        .all(|(&node, &width)| {
            let on = readers.iter().find(|m| m.node == node);
            on.is_some_and(|m| mask_shape(net, node, m.kind).iter().product::<usize>() == width)
        })
}

/// [`reader_factors`] as a tensor `[rows, ...]` that broadcasts against the reader's input.
fn reader_mask(
    net: &Network,
    members: &[&Member],
    probes: &[Option<usize>],
    n: usize,
) -> Tensor<4> {
    let (mask, dims) = reader_factors(net, members, probes, n);
    Tensor::from_data(TensorData::new(mask, dims), net.device())
}

/// For each probe in turn, `n` rows that zero the probed channel in the input of the reader
/// node of `members` (all ones for the unchanged network): at each member's offset, and for a
/// grouped conv once per group, `extent` input channels apart. Also the rows' shape.
fn reader_factors(
    net: &Network,
    members: &[&Member],
    probes: &[Option<usize>],
    n: usize,
) -> (Vec<f32>, [usize; 4]) {
    let read = mask_shape(net, members[0].node, members[0].kind);
    let width: usize = read.iter().product();
    let rows = probes.len() * n;
    let mut mask = vec![1.0f32; rows * width];
    for (r, c) in probes.iter().enumerate() {
        let Some(c) = *c else { continue };
        for s in 0..n {
            let row = &mut mask[(r * n + s) * width..][..width];
            for m in members {
                for group in row.chunks_exact_mut(m.extent) {
                    group[m.indices(c)].iter_mut().for_each(|v| *v = 0.0);
                }
            }
        }
    }
    (mask, [rows, read[0], read[1], read[2]])
}

/// What removing each probed channel changes in the output of `conv`, the group's first
/// reader, given its input `[n, C_in, H, W]`: minus that input channel convolved alone with its
/// slice of the weights, `n` rows per probe (zeros for the unchanged network). One grouped
/// convolution computes every probe's share at once.
fn removal_delta(
    conv: &Conv2d,
    input: &Tensor<4>,
    member: &Member,
    probes: &[Option<usize>],
) -> Tensor<4> {
    let device = input.device();
    let [n, _, h, w] = input.dims();
    let [out, inp, kh, kw] = conv.weight.shape[..] else {
        unreachable!("a conv weight has rank 4")
    };
    let [pt, pl, pb, pr] = conv.padding;
    let extent = |size: usize, pad: usize, k: usize, d: usize, s: usize| {
        (size + pad - d * (k - 1) - 1) / s + 1
    };
    let oh = extent(h, pt + pb, kh, conv.dilation[0], conv.stride[0]);
    let ow = extent(w, pl + pr, kw, conv.dilation[1], conv.stride[1]);
    let channels: Vec<usize> = probes
        .iter()
        .flatten()
        .map(|&c| member.indices(c).start)
        .collect();
    let k = channels.len();
    let mut parts = Vec::new();
    if probes.first() == Some(&None) {
        parts.push(Tensor::zeros([n, out, oh, ow], &device));
    }
    if k > 0 {
        let area = kh * kw;
        let weights: Vec<f32> = channels
            .iter()
            .flat_map(|&ci| (0..out).flat_map(move |o| (0..area).map(move |e| (o, ci, e))))
            .map(|(o, ci, e)| conv.weight.data[(o * inp + ci) * area + e])
            .collect();
        let weight =
            Tensor::<4>::from_data(TensorData::new(weights, [k * out, 1, kh, kw]), &device);
        let index: Vec<i64> = channels.iter().map(|&c| c as i64).collect();
        let index = Tensor::<1, Int>::from_data(TensorData::new(index, [k]), &device);
        let options =
            ConvOptions::new_with_padding(conv.stride, [(pt, pb), (pl, pr)], conv.dilation, k);
        let shares = conv2d(input.clone().select(1, index), weight, None, options);
        let shares = shares
            .reshape([n, k, out, oh * ow])
            .swap_dims(0, 1)
            .reshape([k * n, out, oh, ow]);
        parts.push(shares.neg());
    }
    Tensor::cat(parts, 0)
}

/// The per-sample shape of a reader's input mask: `[C, 1, 1]` for a conv (the mask
/// broadcasts over the map), the input's whole shape for a linear layer (whose group channels
/// are runs of flattened features).
fn mask_shape(net: &Network, reader: usize, kind: MemberKind) -> [usize; 3] {
    let shape = net.input_shape_of(reader);
    match (kind, shape) {
        (
            MemberKind::Reads {
                features_per_channel: 1,
            },
            [c, _, _],
        ) => [*c, 1, 1],
        (_, [a]) => [*a, 1, 1],
        (_, [a, b]) => [*a, *b, 1],
        (_, [a, b, c]) => [*a, *b, *c],
        _ => [1, 1, 1],
    }
}

/// Total loss over `batches` with each channel of `group` masked in a fresh copy of `graph`.
fn naive_losses(
    graph: &Graph,
    group: &ChannelGroup,
    batches: &[Batch],
    device: &burn::tensor::Device,
) -> Result<Vec<f64>, PruneError> {
    (0..group.channels)
        .map(|c| {
            let mut masked = graph.clone();
            mask_group(&mut masked, group, &[c])?;
            let mut net = Network::new(&masked.fold_batch_norms(), device)?;
            total_loss(&mut net, batches)
        })
        .collect()
}

/// The summed cross-entropy of `net` over `batches`.
fn total_loss(net: &mut Network, batches: &[Batch]) -> Result<f64, PruneError> {
    let mut total = 0.0;
    for batch in batches {
        let x = net.batch(batch.images.clone(), batch.n, &batch.shape)?;
        let values = host_values(net.forward(x, Mode::Eval));
        total += cross_entropy_sum(&values, values.len() / batch.n, &batch.labels);
    }
    Ok(total)
}

/// Σ over rows of `logsumexp(row) - row[label]`, in f64.
fn cross_entropy_sum(logits: &[f32], classes: usize, labels: &[i64]) -> f64 {
    logits
        .chunks(classes)
        .zip(labels)
        .map(|(row, &label)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
            let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
            max + sum.ln() - row[label as usize] as f64
        })
        .sum()
}
