//! Ops without weights that still name channels: after a cut, a `Constant` operand loses the
//! entries of the removed channels, a channel permutation drops them and renumbers the rest,
//! and a `Slice` on channels moves its bounds past the removed channels before and inside it.
//!
//! The removed channels of every value come from the groups' [`ValueSlice`](crate::ValueSlice)s;
//! an op reads those of its input (a constant, those of its own value).

use super::arrays::without;
use crate::ChannelGroup;
use shears_ir::{Graph, Op};

/// The removed channel indices of every value (node) the cuts touch, sorted.
pub(super) fn removed_channels(
    graph: &Graph,
    cuts: &[(&ChannelGroup, &[usize])],
) -> Vec<Vec<usize>> {
    let mut removed = vec![Vec::new(); graph.nodes.len()];
    for &(group, indices) in cuts {
        for value in &group.values {
            removed[value.node].extend(indices.iter().map(|&c| value.offset + c));
        }
    }
    for list in &mut removed {
        list.sort_unstable();
        list.dedup();
    }
    removed
}

/// The op of node `v` with `removed` taken into account, or `None` if it names no channels or
/// none of its channels go.
pub(super) fn reindex(graph: &Graph, v: usize, removed: &[Vec<usize>]) -> Option<Op> {
    let node = &graph.nodes[v];
    let input = || &removed[node.inputs[0].node];
    match &node.op {
        Op::Constant { value } if !removed[v].is_empty() => Some(Op::Constant {
            value: without(value, &removed[v], &[]),
        }),
        Op::PermuteChannels { order } if !input().is_empty() => {
            let gone = input();
            let order = order
                .iter()
                .filter(|c| gone.binary_search(c).is_err())
                .map(|&c| c - gone.partition_point(|&g| g < c))
                .collect();
            Some(Op::PermuteChannels { order })
        }
        Op::Slice {
            axis: 1,
            start,
            end,
        } if !input().is_empty() => {
            let before = |i: usize| input().partition_point(|&g| g < i);
            Some(Op::Slice {
                axis: 1,
                start: start - before(*start),
                end: end - before(*end),
            })
        }
        _ => None,
    }
}
