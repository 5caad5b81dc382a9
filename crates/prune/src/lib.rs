//! Structural pruning of shears IR graphs.
//!
//! Pruning removes whole channels (conv filters, BN entries, linear features) so that the network
//! really gets smaller. Channels are coupled: a conv's output channels are its consumers' input
//! channels, a residual `Add` ties every branch it joins, a depthwise conv carries its input
//! channels to its output. [`analysis`] finds these couplings from each op's rules in
//! `shears_ir` (its `ChannelRule` and weight layout, never by matching on the op) and hands out
//! [`ChannelGroup`]s, each a set of [`Member`]s (layer slices) that must lose the same channels
//! together. [`surgery`] removes channels from every member of a group, or zeroes them
//! ([`mask_group`]) so a test can check that pruning did not change what the network computes.
//!
//! The vocabulary follows Torch-Pruning (DepGraph): a group of coupled dependencies, pruned by
//! `prune_out_channels` / `prune_in_channels` on each member.
//!
//! ```
//! use shears_ir::zoo::{self, ArchSpec};
//! use shears_prune::{DependencyGraph, prune_group};
//!
//! let mut graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
//! let deps = DependencyGraph::build(&graph).unwrap();
//! let group = deps.group("layer1.0.conv1").unwrap();
//! prune_group(&mut graph, group, &[0, 5, 7]).unwrap();
//! assert_eq!(graph.nodes[graph.node_by_name("layer1.0.bn1").unwrap()].op.arrays()[0].len(), 13);
//! ```

pub mod analysis;
pub mod compare;
mod error;
mod group;
pub mod importance;
pub mod pruner;
pub mod schedule;
pub mod sparsity;
pub mod surgery;

pub use analysis::DependencyGraph;
pub use error::PruneError;
pub use group::{ChannelGroup, Member, MemberKind, ValueSlice, has_filters};
pub use surgery::{freeze_groups, mask_group, mask_groups, prune_group, prune_groups};
