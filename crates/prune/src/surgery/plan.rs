//! Checks a request to cut channels and turns it into the layer indices to remove per node.
//!
//! Everything a caller can get wrong is caught here, before any weight changes: a blocked group,
//! an index out of range or given twice, all channels of a group, a group analysed on another
//! graph (or before an earlier surgery), groups that overlap, a layer left with no channels.

use crate::analysis::is_depthwise;
use crate::{ChannelGroup, Member, MemberKind, PruneError};
use shears_ir::{Graph, Op};

/// Whether a cut removes what a layer computes (weight rows) or what it reads (weight axis 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Out,
    In,
}

/// The layer indices to remove from one node, each list sorted and distinct.
#[derive(Debug, Default)]
pub(super) struct NodeCut {
    pub node: usize,
    /// Output channels or features: conv / linear weight rows and bias entries, BN entries.
    pub rows: Vec<usize>,
    /// Input channels or features: conv / linear weight axis 1.
    pub cols: Vec<usize>,
}

/// The per-node cuts for removing `indices` from each group, in node order.
pub(super) fn plan(
    graph: &Graph,
    cuts: &[(&ChannelGroup, &[usize])],
) -> Result<Vec<NodeCut>, PruneError> {
    let mut entries: Vec<(usize, Side, usize)> = Vec::new();
    for &(group, indices) in cuts {
        check_indices(group, indices)?;
        if indices.is_empty() {
            continue;
        }
        for m in &group.members {
            check_member(graph, group, m)?;
            let side = if m.kind.is_producer() {
                Side::Out
            } else {
                Side::In
            };
            for &c in indices {
                entries.extend(m.indices(c).map(|i| (m.node, side, i)));
            }
        }
    }
    entries.sort_unstable();
    let mut plan: Vec<NodeCut> = Vec::new();
    for run in entries.chunk_by(|a, b| a.0 == b.0 && a.1 == b.1) {
        let (node, side) = (run[0].0, run[0].1);
        let name = || graph.nodes[node].name.clone();
        if let Some(w) = run.windows(2).find(|w| w[0].2 == w[1].2) {
            return Err(PruneError::Overlap {
                node: name(),
                index: w[0].2,
            });
        }
        if run.len() >= axis_len(&graph.nodes[node].op, side) {
            return Err(PruneError::ZeroChannels { node: name() });
        }
        if plan.last().is_none_or(|c| c.node != node) {
            plan.push(NodeCut {
                node,
                ..NodeCut::default()
            });
        }
        let cut = plan.last_mut().unwrap();
        let list = run.iter().map(|e| e.2).collect();
        match side {
            Side::Out => cut.rows = list,
            Side::In => cut.cols = list,
        }
    }
    Ok(plan)
}

fn check_indices(group: &ChannelGroup, indices: &[usize]) -> Result<(), PruneError> {
    let name = || group.name.clone();
    if let Some(reason) = &group.blocked {
        return Err(PruneError::Blocked {
            group: name(),
            reason: reason.clone(),
        });
    }
    let mut seen = vec![false; group.channels];
    for &index in indices {
        match seen.get_mut(index) {
            None => {
                return Err(PruneError::IndexOutOfRange {
                    group: name(),
                    index,
                    channels: group.channels,
                });
            }
            Some(true) => {
                return Err(PruneError::DuplicateIndex {
                    group: name(),
                    index,
                });
            }
            Some(s) => *s = true,
        }
    }
    if !indices.is_empty() && indices.len() == group.channels {
        return Err(PruneError::AllChannels {
            group: name(),
            channels: group.channels,
        });
    }
    Ok(())
}

/// Fails unless `m` still describes its node as it was when the group was analysed.
fn check_member(graph: &Graph, group: &ChannelGroup, m: &Member) -> Result<(), PruneError> {
    let stale = |detail: String| PruneError::Stale {
        group: group.name.clone(),
        node: m.name.clone(),
        detail,
    };
    let node = graph
        .nodes
        .get(m.node)
        .filter(|n| n.name == m.name)
        .ok_or_else(|| stale(format!("node #{} is not called '{}'", m.node, m.name)))?;
    let len = match (&node.op, m.kind) {
        (Op::Conv2d(c), MemberKind::ConvOut) if !is_depthwise(c) => c.out_channels(),
        (Op::Conv2d(c), MemberKind::ConvIn) if !is_depthwise(c) => c.weight.shape[1],
        (Op::Conv2d(c), MemberKind::DepthwiseConv) if is_depthwise(c) => c.out_channels(),
        (Op::BatchNorm2d(bn), MemberKind::BatchNorm) => bn.channels(),
        (Op::Linear(l), MemberKind::LinearOut) => l.out_features(),
        (Op::Linear(l), MemberKind::LinearIn { .. }) => l.in_features(),
        (op, kind) => {
            return Err(stale(format!(
                "it is a {} that has no '{kind}' slice",
                op.type_name()
            )));
        }
    };
    if len != m.extent {
        return Err(stale(format!(
            "it has {len} channels or features where the group expects {}",
            m.extent
        )));
    }
    if m.indices(group.channels).start > len {
        return Err(stale(format!(
            "the group's {} channels at offset {} do not fit its {len}",
            group.channels, m.offset
        )));
    }
    Ok(())
}

/// Length of the axis a cut on `side` shortens.
fn axis_len(op: &Op, side: Side) -> usize {
    match (op, side) {
        (Op::Conv2d(c), Side::Out) => c.out_channels(),
        (Op::Conv2d(c), Side::In) => c.weight.shape[1],
        (Op::BatchNorm2d(bn), _) => bn.channels(),
        (Op::Linear(l), Side::Out) => l.out_features(),
        (Op::Linear(l), Side::In) => l.in_features(),
        _ => 0,
    }
}
