//! Han et al.'s neurons with no inputs, and SWP's filters with no stripe left: a channel
//! whose every producing filter lost all its weights computes the same value whatever the
//! input (its biases, through the norms and activations after it). It is removed physically
//! when that costs nothing: the value its readers take in is zero, or each reader can add
//! its contribution to its bias (a linear layer, an unpadded ungrouped conv). A constant
//! read through zero padding differs at the borders, so such channels stay.

use super::remove_unread;
use crate::importance::channel_vectors;
use crate::importance::probe::reader_tap;
use crate::schedule::{Cut, apply};
use crate::{ChannelGroup, DependencyGraph, Member, MemberKind, PruneError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shears_ir::{Array, Graph, Op};
use shears_runtime::{DeviceKind, Mode, Network, TapSpec, host_values};
use std::collections::BTreeMap;

/// Samples of random input a dead channel must be constant on.
const SAMPLES: usize = 2;

/// `graph` without the channels no layer reads ([`remove_unread`]) and without the dead
/// channels that can go exactly; returns how many channels went in all.
pub fn remove_dead(graph: &Graph, device: DeviceKind) -> Result<(Graph, usize), PruneError> {
    let (mut lean, unread) = remove_unread(graph)?;
    let deps = DependencyGraph::build(&lean)?;
    let (folded, cuts) = dead_cuts(&lean, &deps, device)?;
    if cuts.is_empty() {
        return Ok((lean, unread));
    }
    let dead: usize = cuts.iter().map(|c| c.indices.len()).sum();
    lean = apply(&folded, deps.groups(), &cuts)?;
    Ok((lean, unread + dead))
}

/// The dead channels that can go, with their readers' biases already holding what they
/// read from them (a graph that computes the same).
fn dead_cuts(
    graph: &Graph,
    deps: &DependencyGraph,
    device: DeviceKind,
) -> Result<(Graph, Vec<Cut>), PruneError> {
    let candidates: Vec<(&ChannelGroup, Vec<usize>)> = deps
        .prunable()
        .filter_map(|g| Some((g, without_weights(graph, g)?)))
        .filter(|(_, dead)| !dead.is_empty())
        .collect();
    if candidates.is_empty() || graph.inputs.len() != 1 {
        return Ok((graph.clone(), Vec::new()));
    }
    let taps = observe_constants(graph, &candidates, device)?;
    let mut folded = graph.clone();
    let mut cuts = Vec::new();
    for (group, channels) in &candidates {
        // A group keeps one channel: stop before folding the last one away.
        let mut indices = Vec::new();
        for &c in channels {
            if indices.len() + 1 < group.channels
                && fold_channel(&mut folded, graph, group, c, &taps)
            {
                indices.push(c);
            }
        }
        if !indices.is_empty() {
            cuts.push(Cut {
                group: group.id,
                indices,
            });
        }
    }
    Ok((folded, cuts))
}

/// The channels of `group` whose producing filters all hold only zeros (ascending); `None`
/// if the group has no filters or a member is stale. Soft pruning reads it too.
pub(crate) fn without_weights(graph: &Graph, group: &ChannelGroup) -> Option<Vec<usize>> {
    let producers: Vec<Vec<Vec<f32>>> = group
        .members
        .iter()
        .filter(|m| m.kind == MemberKind::Filters)
        .map(|m| channel_vectors(graph, m, group.channels))
        .collect::<Option<_>>()?;
    if producers.is_empty() {
        return None;
    }
    Some(
        (0..group.channels)
            .filter(|&c| producers.iter().all(|p| p[c].iter().all(|&v| v == 0.0)))
            .collect(),
    )
}

/// For each tapped node, its output on random input, `[n, axis1, spatial]` flattened, and
/// the per-sample shape.
type Observed = BTreeMap<usize, (Vec<f32>, Vec<usize>)>;

/// Runs [`SAMPLES`] random inputs through `graph` and keeps what the readers of the candidate
/// groups take in.
fn observe_constants(
    graph: &Graph,
    candidates: &[(&ChannelGroup, Vec<usize>)],
    device: DeviceKind,
) -> Result<Observed, PruneError> {
    let shape = graph.input_shape().map(<[usize]>::to_vec).ok_or_else(|| {
        PruneError::Config("the model's input has no fixed shape to probe with".into())
    })?;
    let nodes: Vec<usize> = candidates
        .iter()
        .flat_map(|(g, _)| g.members.iter().filter_map(|m| reader_tap(graph, g, m)))
        .map(|t| t.node)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut net = Network::new(&graph.fold_batch_norms(), &device.device()?)?;
    let mut rng = StdRng::seed_from_u64(0);
    let len = SAMPLES * shape.iter().product::<usize>();
    let input = (0..len).map(|_| rng.random_range(-1.0..1.0)).collect();
    let x = net.batch(input, SAMPLES, &shape)?;
    let spec = TapSpec {
        nodes: nodes.clone(),
        gradients: false,
    };
    let (_, taps) = net.forward_tapped(x, Mode::Eval, &spec);
    Ok(nodes
        .into_iter()
        .map(|node| {
            let values = host_values(taps.activation(node).expect("tapped").clone());
            (node, (values, net.output_shape(node).to_vec()))
        })
        .collect())
}

/// Folds what each reader of channel `c` takes in from it into the reader's bias (in
/// `folded`), if the channel is constant wherever it is read and every reader can; returns
/// whether the channel can go. `graph` is the unchanged model the taps were taken on.
fn fold_channel(
    folded: &mut Graph,
    graph: &Graph,
    group: &ChannelGroup,
    c: usize,
    taps: &Observed,
) -> bool {
    let readers: Vec<&Member> = group
        .members
        .iter()
        .filter(|m| matches!(m.kind, MemberKind::Reads { .. }))
        .collect();
    let mut values = Vec::with_capacity(readers.len());
    for member in &readers {
        let Some(tap) = reader_tap(graph, group, member) else {
            return false;
        };
        let (data, dims) = &taps[&tap.node];
        match constant(data, dims, tap.offset + c, tap.per_channel) {
            Some(v) => values.push(v),
            None => return false,
        }
    }
    if values.iter().all(|&v| v == 0.0) {
        return true;
    }
    if !readers.iter().all(|m| can_fold(&graph.nodes[m.node].op)) {
        return false;
    }
    for (member, v) in readers.iter().zip(values) {
        let slice = &channel_vectors(graph, member, group.channels).expect("a reader")[c];
        add_to_bias(&mut folded.nodes[member.node].op, slice, v);
    }
    true
}

/// The one value channel `channel` (of `per_channel` slots) takes in every sample and
/// position, if it takes only one.
fn constant(data: &[f32], dims: &[usize], channel: usize, per_channel: usize) -> Option<f32> {
    let axis1 = dims.first().copied().unwrap_or(1);
    let spatial: usize = dims.iter().skip(1).product::<usize>().max(1);
    let width = per_channel * spatial;
    let first = data[channel * width];
    (0..SAMPLES)
        .flat_map(|s| {
            let start = (s * axis1 + channel * per_channel) * spatial;
            &data[start..start + width]
        })
        .all(|&v| v == first)
        .then_some(first)
}

/// A reader whose output takes a constant input channel in as a constant: a linear layer, or
/// a conv with no padding and one group.
fn can_fold(op: &Op) -> bool {
    match op {
        Op::Linear(_) => true,
        Op::Conv2d(c) => c.groups == 1 && c.padding == [0; 4],
        _ => false,
    }
}

/// Adds `value` times each output's share of `slice` (the reader's weights on the channel,
/// `[out, ...]` flattened) to the reader's bias, creating a zero bias if it has none.
fn add_to_bias(op: &mut Op, slice: &[f32], value: f32) {
    let (weight, bias) = match op {
        Op::Linear(l) => (&l.weight, &mut l.bias),
        Op::Conv2d(c) => (&c.weight, &mut c.bias),
        _ => unreachable!("checked by can_fold"),
    };
    let out = weight.shape[0];
    let bias = bias.get_or_insert_with(|| Array::full(vec![out], 0.0));
    for (b, row) in bias.data.iter_mut().zip(slice.chunks(slice.len() / out)) {
        *b += value * row.iter().sum::<f32>();
    }
}
