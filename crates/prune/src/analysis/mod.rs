//! Dependency analysis: which channels of which layers must be pruned together.
//!
//! [`DependencyGraph::build`] reads a [`Graph`] and splits all its channels into
//! [`ChannelGroup`]s, in three steps, each in its own file:
//!
//! 1. `axes`: the channel axis of every value (feature maps `[C, H, W]`; a flattened map keeps
//!    its `C` channels, each `H * W` features wide);
//! 2. `rules`: per op, which input channels are which output channels (Torch-Pruning's rules),
//!    recorded in a union-find over all channels of the graph, and which values must keep every
//!    channel (graph inputs and outputs, softmax over channels, ...);
//! 3. `groups`: the tied channels, gathered into groups laid out alike in every value, with the
//!    layers that compute or read them as members.
//!
//! The work is linear in the number of channels of the graph (resnet56 has about 10k).

mod axes;
mod groups;
mod rules;
mod union_find;

use crate::{ChannelGroup, PruneError};
use shears_ir::Graph;

/// The channel groups of one graph. Analyse again after every surgery: indices, offsets and
/// channel counts describe the graph as it was.
#[derive(Clone, Debug, PartialEq)]
pub struct DependencyGraph {
    groups: Vec<ChannelGroup>,
}

impl DependencyGraph {
    /// Analyses `graph`, which must verify.
    pub fn build(graph: &Graph) -> Result<Self, PruneError> {
        graph.verify()?;
        let shapes = graph.infer_shapes()?;
        let shapes: Vec<_> = shapes.iter().map(|s| &s[0]).collect();
        let (axes, total) = axes::channel_axes(graph, &shapes);
        let coupling = rules::couple(graph, &shapes, &axes, total);
        let consumers = graph.consumers();
        let mut groups = groups::form(graph, &axes, total, &consumers, coupling);
        let first = |g: &ChannelGroup| (g.values[0].node, g.values[0].offset);
        let keys: Vec<String> = groups
            .iter()
            .map(|g| {
                let (node, offset) = first(g);
                let rank = groups
                    .iter()
                    .filter(|o| first(o).0 == node && first(o).1 < offset)
                    .count();
                format!("{}#{rank}", graph.nodes[node].name)
            })
            .collect();
        for (g, key) in groups.iter_mut().zip(keys) {
            g.key = key;
        }
        Ok(Self { groups })
    }

    /// Every group, prunable or not, in graph order of the node that first produces it.
    pub fn groups(&self) -> &[ChannelGroup] {
        &self.groups
    }

    /// The groups surgery may cut.
    pub fn prunable(&self) -> impl Iterator<Item = &ChannelGroup> {
        self.groups.iter().filter(|g| g.is_prunable())
    }

    /// The group called `name` (see [`ChannelGroup::name`]).
    pub fn group(&self, name: &str) -> Option<&ChannelGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The groups with a member on `node` (a conv is in the group of its output channels and in
    /// the group of its input channels).
    pub fn groups_of(&self, node: usize) -> impl Iterator<Item = &ChannelGroup> {
        self.groups
            .iter()
            .filter(move |g| g.members.iter().any(|m| m.node == node))
    }
}
