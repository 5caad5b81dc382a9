//! The weights that belong to one channel of a group member, gathered for weight-based
//! criteria: a conv's filter, a linear layer's row, the input-channel slice a conv reads, a
//! BN's gamma.

use super::Reduction;
use crate::{ChannelGroup, Member, MemberKind, PruneError};
use shears_ir::Graph;

/// Scores each of `members` with `score` (given one weight vector per channel, it returns one
/// score per channel) and combines them with `reduction`; `None` when there are no members.
pub(crate) fn score_members<'g>(
    graph: &Graph,
    group: &ChannelGroup,
    members: impl Iterator<Item = &'g Member>,
    reduction: Reduction,
    score: impl Fn(&[Vec<f32>]) -> Vec<f32>,
) -> Result<Option<Vec<f32>>, PruneError> {
    let per_member = members
        .map(|m| member_vectors(graph, group, m).map(|v| score(&v)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(reduction.reduce(per_member))
}

/// [`channel_vectors`] of a member of `group`, or a stale-group error naming both.
pub(crate) fn member_vectors(
    graph: &Graph,
    group: &ChannelGroup,
    member: &Member,
) -> Result<Vec<Vec<f32>>, PruneError> {
    channel_vectors(graph, member, group.channels).ok_or_else(|| PruneError::Stale {
        group: group.name.clone(),
        node: member.name.clone(),
        detail: format!("its weights do not fit a {} member", member.kind),
    })
}

/// The members whose weights compute the group's channels: conv filters (plain or depthwise)
/// and linear rows, in graph order.
pub fn weight_members(group: &ChannelGroup) -> impl Iterator<Item = &Member> {
    group
        .members
        .iter()
        .filter(|m| matches!(m.kind, MemberKind::Filters | MemberKind::Depthwise))
}

/// For each of the group's `channels` channels, the weights of `member` that belong to it:
/// the slice of the member's weight along its cut axis (see `MemberKind::of`): the filter
/// `[in, kh, kw]` (flattened) of a conv or depthwise conv, the row of a linear layer, every
/// filter's slice `[out, kh, kw]` for a conv reading the channel, the columns of a linear layer
/// reading it, or `[gamma]` of a batch norm. `None` if the member's node does not hold the
/// weights its kind says (a stale group).
pub fn channel_vectors(graph: &Graph, member: &Member, channels: usize) -> Option<Vec<Vec<f32>>> {
    let op = &graph.nodes.get(member.node)?.op;
    let (kind, w) = MemberKind::of(op, member.kind.side(), member.kind.width())?;
    if kind != member.kind {
        return None;
    }
    let array = op.arrays()[w.array];
    (0..channels)
        .map(|c| array.slice_along(w.axis, member.indices(c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DependencyGraph;
    use shears_ir::Op;
    use shears_ir::zoo::{self, ArchSpec};

    #[test]
    fn vectors_follow_the_member_layout() {
        let graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
        let deps = DependencyGraph::build(&graph).unwrap();
        let group = deps.group("layer1.0.conv1").unwrap();
        for member in &group.members {
            let v = channel_vectors(&graph, member, group.channels).unwrap();
            assert_eq!(v.len(), 16);
            let expected = match member.kind {
                MemberKind::Filters | MemberKind::Reads { .. } => 16 * 9,
                MemberKind::Norm => 1,
                k => panic!("unexpected member kind {k}"),
            };
            assert!(v.iter().all(|c| c.len() == expected), "{}", member.name);
        }
        // Filter 3 of the conv is its weight row 3.
        let conv = &group.members[0];
        let Op::Conv2d(c) = &graph.nodes[conv.node].op else {
            panic!()
        };
        assert_eq!(
            channel_vectors(&graph, conv, 16).unwrap()[3],
            c.weight.row(3)
        );
    }
}
