//! Errors of the prune crate: each names the group, node or index at fault.

use shears_ir::IrError;
use shears_runtime::RuntimeError;
use thiserror::Error;

/// What can go wrong when analysing a graph or cutting channels out of it.
#[derive(Debug, Error)]
pub enum PruneError {
    /// The graph does not verify, so its channels cannot be analysed.
    #[error("cannot analyse the graph: {0}")]
    Ir(#[from] IrError),
    /// The group may not be pruned (it reaches a graph output, a grouped conv, ...).
    #[error("group '{group}' cannot be pruned: {reason}")]
    Blocked { group: String, reason: String },
    /// A channel index is not below the group's channel count.
    #[error("group '{group}' has {channels} channels; index {index} is out of range")]
    IndexOutOfRange {
        group: String,
        index: usize,
        channels: usize,
    },
    /// A channel index was given twice.
    #[error("channel {index} of group '{group}' is listed twice")]
    DuplicateIndex { group: String, index: usize },
    /// Every channel of the group was asked for.
    #[error(
        "removing all {channels} channels of group '{group}' would leave layers with no channels; keep at least one"
    )]
    AllChannels { group: String, channels: usize },
    /// The group was analysed on a different graph (or before an earlier surgery).
    #[error(
        "group '{group}' does not match the graph at node '{node}': {detail}; rebuild the DependencyGraph after every surgery"
    )]
    Stale {
        group: String,
        node: String,
        detail: String,
    },
    /// Two groups given to one call share a channel of some layer.
    #[error(
        "groups given together overlap at channel {index} of node '{node}'; pass each group once"
    )]
    Overlap { node: String, index: usize },
    /// A layer would be left with no channels.
    #[error("node '{node}' would be left with no channels")]
    ZeroChannels { node: String },
    /// Surgery produced a graph that does not verify: a bug in the analysis. The graph is
    /// restored to its state before the call.
    #[error(
        "pruning {groups} produced an invalid graph ({source}); the graph was left unchanged. This is a bug in shears' channel analysis, please report it"
    )]
    Verify { groups: String, source: IrError },
    /// An `--ignore` (or per-layer ratio) pattern names no layer of the model.
    #[error("layer pattern '{pattern}' matches no layer of the model; {hint}")]
    Pattern { pattern: String, hint: String },
    /// The target cannot be reached within the limits.
    #[error("impossible target: {0}")]
    Target(String),
    /// A pruning setting is out of range or inconsistent.
    #[error("invalid pruning setting: {0}")]
    Config(String),
    /// Fine-tuning, evaluation or a checkpoint failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}
