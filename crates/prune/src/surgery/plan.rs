//! Checks a request to cut channels and turns it into the channels each value loses.
//!
//! Everything a caller can get wrong is caught here, before any weight changes: a blocked group,
//! an index out of range or given twice, all channels of a group, a group analysed on another
//! graph (or before an earlier surgery), groups that overlap, a value left with no channels.

use crate::{ChannelGroup, Member, MemberKind, PruneError, ValueSlice};
use shears_ir::{Graph, Shape};

/// The channels each value loses, as sorted element indices of its axis 0 (a flattened
/// channel is its run of features), one list per node, checked.
pub(super) fn plan(
    graph: &Graph,
    cuts: &[(&ChannelGroup, &[usize])],
) -> Result<Vec<Vec<usize>>, PruneError> {
    let shapes = graph.infer_shapes()?;
    let mut removed = vec![Vec::new(); graph.nodes.len()];
    for &(group, indices) in cuts {
        check_indices(group, indices)?;
        if indices.is_empty() {
            continue;
        }
        for m in &group.members {
            check_member(graph, group, m)?;
        }
        for value in &group.values {
            check_value(graph, &shapes, group, value)?;
            let w = value.per_channel;
            for &c in indices {
                let start = (value.offset + c) * w;
                removed[value.node].extend(start..start + w);
            }
        }
    }
    for (node, list) in removed.iter_mut().enumerate() {
        list.sort_unstable();
        let name = || graph.nodes[node].name.clone();
        if let Some(w) = list.windows(2).find(|w| w[0] == w[1]) {
            return Err(PruneError::Overlap {
                node: name(),
                index: w[0],
            });
        }
        if !list.is_empty() && list.len() >= shapes[node][0].first().copied().unwrap_or(0) {
            return Err(PruneError::ZeroChannels { node: name() });
        }
    }
    Ok(removed)
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
    let len = match MemberKind::of(&node.op, m.kind.side(), m.kind.width()) {
        Some((kind, w)) if kind == m.kind => node.op.arrays()[w.array].shape[w.axis],
        _ => {
            return Err(stale(format!(
                "it is a {} that has no '{}' slice",
                node.op.type_name(),
                m.kind
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

/// Fails if the group's channels do not fit axis 0 of `value`'s node.
fn check_value(
    graph: &Graph,
    shapes: &[Vec<Shape>],
    group: &ChannelGroup,
    value: &ValueSlice,
) -> Result<(), PruneError> {
    let len = shapes
        .get(value.node)
        .and_then(|s| s[0].first().copied())
        .unwrap_or(0);
    if (value.offset + group.channels) * value.per_channel > len {
        return Err(PruneError::Stale {
            group: group.name.clone(),
            node: graph
                .nodes
                .get(value.node)
                .map_or_else(|| format!("#{}", value.node), |n| n.name.clone()),
            detail: format!(
                "its value has {len} elements on axis 0, fewer than the group's channels need"
            ),
        });
    }
    Ok(())
}
