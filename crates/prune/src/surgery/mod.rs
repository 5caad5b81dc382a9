//! Surgery: removing a group's channels from every layer it lives in, or zeroing them.
//!
//! [`prune_group`] works out which channels every value of a group loses (see `plan`, which
//! checks the whole request before any weight changes), then lets every op whose output or
//! input loses channels cut itself (`Op::without_channels`, from the op's weight layout in
//! `shears_ir`): conv filters and bias entries, conv input channels, depthwise filters and their
//! groups, BN entries, linear rows and columns (a flattened channel's `H * W` columns at once,
//! shifted by a concat's offset), the entries of constants, permutations and slices. Then it
//! verifies the graph, and restores it if that fails. [`prune_groups`] cuts several groups in one
//! pass, which is how a planner prunes a whole network at once.
//!
//! [`mask_group`] zeroes the same channels instead, keeping every shape. It is the reference the
//! engine is tested against: `forward(prune(g)) == forward(mask(g))`. The mask zeroes, in every
//! member, both
//!
//! - the *reader* slices: the input-channel weights of each conv and the columns of each linear
//!   layer that read the group's values, and
//! - the *producer* slices: conv and depthwise filters with their bias entries, BN gamma and beta,
//!   linear rows with their bias entries.
//!
//! Why that makes the outputs equal. The analysis puts a value's channel `c` in a group together
//! with every channel it flows into without being mixed with other channels: through BN,
//! activations, pooling, dropout, flatten, depthwise convs, residual adds, SE gates and concat
//! offsets. Channel `c` leaves the group only through a layer that mixes channels (a conv or a
//! linear layer reading a value of the group), and every such layer is a reader member; a group
//! that reaches a graph output is never prunable. In the masked network each reader multiplies
//! channel `c` by zero weights, so whatever finite value `c` holds contributes exactly nothing,
//! which is what the pruned network computes by not having `c` at all. Every other channel is
//! computed from the same inputs with the same weights in both networks. The outputs therefore
//! agree up to the order of floating-point sums.
//!
//! The reader slices are what make this exact for every op on the path: zeroing producers alone
//! is not enough, because a masked channel need not be 0 where it is read (`sigmoid(0) = 0.5`,
//! `hardsigmoid(0) = beta`, a clip with a positive minimum, ...). Zeroing the
//! producers too keeps the masked network looking pruned to weight-based criteria, and makes the
//! channel exactly 0 after its last conv or BN (zero gamma and beta give 0 whatever the running
//! mean and variance).

mod plan;

use crate::{ChannelGroup, PruneError};
use shears_ir::{Graph, Op};

/// Removes channels `indices` (each in `0..group.channels`, distinct, not all of them) from
/// every member of `group`, then verifies the graph. `group` must come from a
/// [`DependencyGraph`](crate::DependencyGraph) built on `graph` as it is now; an empty `indices`
/// changes nothing. On error the graph is unchanged.
pub fn prune_group(
    graph: &mut Graph,
    group: &ChannelGroup,
    indices: &[usize],
) -> Result<(), PruneError> {
    prune_groups(graph, &[(group, indices)])
}

/// [`prune_group`] for several groups of the same analysis at once, with one verification.
pub fn prune_groups(
    graph: &mut Graph,
    cuts: &[(&ChannelGroup, &[usize])],
) -> Result<(), PruneError> {
    let removed = plan::plan(graph, cuts)?;
    let mut undo = Vec::new();
    for v in 0..graph.nodes.len() {
        let input = input_losses(graph, &removed, v);
        if removed[v].is_empty() && input.is_empty() {
            continue;
        }
        if let Some(op) = graph.nodes[v].op.without_channels(&removed[v], input) {
            undo.push((v, std::mem::replace(&mut graph.nodes[v].op, op)));
        }
    }
    if let Err(source) = graph.verify() {
        for (node, op) in undo {
            graph.nodes[node].op = op;
        }
        let groups = cuts
            .iter()
            .map(|(g, _)| format!("'{}'", g.name))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PruneError::Verify { groups, source });
    }
    Ok(())
}

/// Zeroes channels `indices` of `group` in every member, producers and readers (see the module
/// documentation), keeping all shapes. Checks its arguments as [`prune_group`] does.
pub fn mask_group(
    graph: &mut Graph,
    group: &ChannelGroup,
    indices: &[usize],
) -> Result<(), PruneError> {
    mask_groups(graph, &[(group, indices)])
}

/// [`mask_group`] for several groups of the same analysis at once.
pub fn mask_groups(
    graph: &mut Graph,
    cuts: &[(&ChannelGroup, &[usize])],
) -> Result<(), PruneError> {
    clear_groups(graph, cuts, Op::zero_channels)
}

/// [`mask_groups`], with the zeroed weights masked too ([`shears_ir::Array::restrict`]), so
/// that training keeps them at zero: channels pruned in all but shape.
pub fn freeze_groups(
    graph: &mut Graph,
    cuts: &[(&ChannelGroup, &[usize])],
) -> Result<(), PruneError> {
    clear_groups(graph, cuts, Op::freeze_channels)
}

fn clear_groups(
    graph: &mut Graph,
    cuts: &[(&ChannelGroup, &[usize])],
    clear: fn(&mut Op, &[usize], &[usize]),
) -> Result<(), PruneError> {
    let removed = plan::plan(graph, cuts)?;
    for v in 0..graph.nodes.len() {
        let input = input_losses(graph, &removed, v);
        if !removed[v].is_empty() || !input.is_empty() {
            clear(&mut graph.nodes[v].op, &removed[v], input);
        }
    }
    Ok(())
}

/// The channels input 0 of node `v` loses.
fn input_losses<'a>(graph: &Graph, removed: &'a [Vec<usize>], v: usize) -> &'a [usize] {
    graph.nodes[v]
        .inputs
        .first()
        .map_or(&[], |o| removed[o.node].as_slice())
}
