//! Han et al.'s "pruning neurons": after retraining, a channel whose every outgoing weight is
//! zero computes something no layer reads, so it is removed physically with the channel
//! surgery, at no change to what the network computes.

use crate::importance::channel_vectors;
use crate::schedule::{Cut, apply};
use crate::{DependencyGraph, MemberKind, PruneError};
use shears_ir::Graph;

/// The channels of each prunable group that no layer reads: every member reading the group
/// (a conv's input-channel slices, a linear layer's columns) holds only zeros on them. A
/// group keeps at least one channel; a group with no reading member is left alone.
pub fn unread_channels(graph: &Graph, deps: &DependencyGraph) -> Vec<Cut> {
    deps.prunable()
        .filter_map(|group| {
            let readers: Vec<Vec<Vec<f32>>> = group
                .members
                .iter()
                .filter(|m| matches!(m.kind, MemberKind::Reads { .. }))
                .map(|m| channel_vectors(graph, m, group.channels))
                .collect::<Option<_>>()?;
            if readers.is_empty() {
                return None;
            }
            let mut indices: Vec<usize> = (0..group.channels)
                .filter(|&c| readers.iter().all(|r| r[c].iter().all(|&v| v == 0.0)))
                .collect();
            indices.truncate(group.channels - 1);
            (!indices.is_empty()).then(|| Cut {
                group: group.id,
                indices,
            })
        })
        .collect()
}

/// `graph` without its unread channels, and how many channels went.
pub fn remove_unread(graph: &Graph) -> Result<(Graph, usize), PruneError> {
    let deps = DependencyGraph::build(graph)?;
    let cuts = unread_channels(graph, &deps);
    let removed = cuts.iter().map(|c| c.indices.len()).sum();
    if removed == 0 {
        return Ok((graph.clone(), 0));
    }
    Ok((apply(graph, deps.groups(), &cuts)?, removed))
}
