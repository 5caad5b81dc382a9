//! Finer than channels: masks on single weights (Han et al. 2015), N:M patterns (NVIDIA's
//! ASP) and blocks of weights.
//!
//! A [`Granularity`] other than [`Granularity::Channel`] removes nothing physically. It masks
//! entries of the weights that multiply inputs (conv, transposed conv and linear kernels,
//! [`shears_ir::filter_weight`]) through their arrays' masks ([`shears_ir::Array::restrict`]),
//! which keep them at zero through fine-tuning, checkpoints and export. The units:
//!
//! - **weight**: one element;
//! - **block RxC**: the weight seen as a matrix of `rows` filters by `len / rows` columns (a
//!   conv filter's input channels and kernel positions in memory order), cut into tiles of R
//!   rows by C columns (smaller at the edges);
//! - **N:M**: along the input channels at each filter and kernel position, every run of M
//!   consecutive weights keeps its N best (layers whose input channels per group are not a
//!   multiple of M stay dense);
//! - **stripe** (SWP, Meng et al. 2020): one kernel position of one conv filter across all its
//!   input channels (convs with 1x1 kernels and linear layers stay dense).
//!
//! Weights and blocks are ranked by the criterion's per-weight scores
//! ([`crate::importance::Importance::score_weights`]; a block scores the mean of its
//! weights), within each layer (local scope: every layer loses the same share) or across all
//! of them (global). Targets count what the masks leave ([`shears_ir::Graph::kept_param_count`],
//! [`shears_ir::Graph::kept_mac_count`]); a channel ratio is the share of the eligible
//! weights. Han's rule, `|w| < q * std(w)` per layer, replaces the target when asked for.
//! After each step's fine-tuning, channels that no layer reads any more are removed
//! physically ([`remove_unread`]), so are channels whose filters lost every weight where
//! that is exact ([`remove_dead`]), and the kernel rows and columns no filter uses
//! ([`trim_kernels`]).

mod dead;
mod kernels;
mod neurons;
mod select;

pub use dead::remove_dead;
pub(crate) use dead::without_weights;
pub use kernels::trim_kernels;
pub use neurons::{remove_unread, unread_channels};
pub use select::{SparsePlan, plan_masks};

use select::Unit;

use crate::PruneError;
use crate::schedule::{PlanConfig, Target, matches};
use serde::{Deserialize, Serialize};
use shears_ir::{Graph, Op, filter_weight};
use std::fmt;
use std::str::FromStr;

/// What one pruning decision removes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Granularity {
    /// Whole channels, removed physically with every coupled layer.
    #[default]
    Channel,
    /// Single weights (unstructured).
    Weight,
    /// N of every M consecutive input-channel weights are kept.
    NofM { n: usize, m: usize },
    /// Tiles of `rows` filters by `cols` consecutive weights.
    Block { rows: usize, cols: usize },
    /// Stripes: one kernel position of one conv filter across all its input channels (SWP,
    /// Meng et al. 2020).
    Stripe,
}

impl Granularity {
    /// Whether this granularity masks weights rather than removing channels.
    pub fn is_sparse(self) -> bool {
        self != Granularity::Channel
    }

    /// What a ranked decision masks, for weights, blocks and stripes.
    fn unit(self) -> Option<Unit> {
        match self {
            Granularity::Weight => Some(Unit::Tile { rows: 1, cols: 1 }),
            Granularity::Block { rows, cols } => Some(Unit::Tile { rows, cols }),
            Granularity::Stripe => Some(Unit::Stripe),
            Granularity::Channel | Granularity::NofM { .. } => None,
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Granularity::Channel => f.write_str("channel"),
            Granularity::Weight => f.write_str("weight"),
            Granularity::NofM { n, m } => write!(f, "{n}:{m}"),
            Granularity::Block { rows, cols } => write!(f, "block:{rows}x{cols}"),
            Granularity::Stripe => f.write_str("stripe"),
        }
    }
}

impl FromStr for Granularity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "unknown granularity '{s}': use channel, weight, stripe, N:M (such as 2:4, N < M) or block:RxC (such as block:1x4)"
            )
        };
        let number = |t: &str| t.trim().parse::<usize>().ok().filter(|&v| v > 0);
        match s {
            "channel" | "channels" => Ok(Granularity::Channel),
            "weight" | "weights" | "unstructured" => Ok(Granularity::Weight),
            "stripe" | "stripes" => Ok(Granularity::Stripe),
            _ => {
                if let Some(tile) = s.strip_prefix("block:") {
                    let (r, c) = tile.split_once('x').ok_or_else(bad)?;
                    let (rows, cols) = (number(r).ok_or_else(bad)?, number(c).ok_or_else(bad)?);
                    return Ok(Granularity::Block { rows, cols });
                }
                let (n, m) = s.split_once(':').ok_or_else(bad)?;
                let (n, m) = (number(n).ok_or_else(bad)?, number(m).ok_or_else(bad)?);
                if n >= m {
                    return Err(bad());
                }
                Ok(Granularity::NofM { n, m })
            }
        }
    }
}

/// A weight that a sparse granularity may mask.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseLayer {
    /// Index of the layer's node in `graph.nodes`.
    pub node: usize,
    pub name: String,
    /// Filters: the weight's first axis.
    pub rows: usize,
    /// Elements per filter.
    pub cols: usize,
    /// Multiply-accumulates per sample that each weight element takes part in.
    pub macs_per_weight: u64,
    /// For N:M: the stride between consecutive input channels within a filter and how many
    /// there are (`None` for a transposed conv, whose first axis is the input).
    pub input_channels: Option<(usize, usize)>,
}

/// The layers whose weights `config` lets a sparse granularity mask, in graph order: every
/// conv, transposed conv and linear layer but the first `skip_first`, the last `skip_last`
/// and those `ignore` names (at the stripe granularity, only convs with kernels larger than 1x1).
pub fn sparse_layers(graph: &Graph, config: &PlanConfig) -> Result<Vec<SparseLayer>, PruneError> {
    let summary = graph.summary()?;
    let all: Vec<usize> = (0..graph.nodes.len())
        .filter(|&i| filter_weight(&graph.nodes[i].op).is_some())
        .collect();
    let last = all.len().saturating_sub(config.skip_last);
    Ok(all
        .iter()
        .enumerate()
        .filter(|&(k, _)| k >= config.skip_first && k < last)
        .map(|(_, &i)| i)
        .filter(|&i| {
            !config
                .ignore
                .iter()
                .any(|p| matches(p, &graph.nodes[i].name))
        })
        .filter(|&i| config.granularity != Granularity::Stripe || has_stripes(&graph.nodes[i].op))
        .filter_map(|i| {
            let node = &graph.nodes[i];
            let w = filter_weight(&node.op)?;
            let rows = w.shape[0];
            let input_channels = match &node.op {
                Op::Conv2d(_) | Op::Linear(_) => {
                    let inner: usize = w.shape[2..].iter().product();
                    Some((inner, w.shape[1]))
                }
                _ => None,
            };
            Some(SparseLayer {
                node: i,
                name: node.name.clone(),
                rows,
                cols: w.len() / rows,
                macs_per_weight: summary[i].macs / w.len() as u64,
                input_channels,
            })
        })
        .collect())
}

/// Whether `op` is a conv with a kernel larger than 1x1, whose filters stripe pruning splits.
fn has_stripes(op: &Op) -> bool {
    matches!(op, Op::Conv2d(c) if c.weight.shape[2] * c.weight.shape[3] > 1)
}

/// Copies `graph` with the masks of `plan` added to its weights.
pub fn apply_masks(graph: &Graph, plan: &SparsePlan) -> Graph {
    let mut out = graph.clone();
    for (node, keep) in &plan.masks {
        if let Some(w) = shears_ir::filter_weight_mut(&mut out.nodes[*node].op) {
            w.restrict(keep);
        }
    }
    out
}

/// The checks a run at `granularity` needs before any work: an N:M pattern in one step, and
/// no latency target for masks, which do not make dense kernels faster.
pub fn check_config(
    granularity: Granularity,
    steps: usize,
    target: Target,
) -> Result<(), PruneError> {
    if let Granularity::NofM { .. } = granularity
        && steps != 1
    {
        return Err(PruneError::Config(format!(
            "an N:M pattern ({granularity}) is reached in one step; set `PruneConfig::steps` to 1"
        )));
    }
    if granularity.is_sparse() && matches!(target, Target::Latency { .. }) {
        return Err(PruneError::Config(format!(
            "a latency target needs channel pruning: weights masked at the {granularity} granularity do not make dense kernels faster"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn granularities_parse_and_print_back() {
        for s in [
            "channel",
            "weight",
            "stripe",
            "2:4",
            "1:8",
            "block:1x4",
            "block:4x4",
        ] {
            let g: Granularity = s.parse().unwrap();
            assert_eq!(g.to_string(), s);
        }
        for bad in ["4:2", "2:2", "0:4", "block:1", "block:0x4", "blocks", "2:"] {
            assert!(bad.parse::<Granularity>().is_err(), "{bad}");
        }
    }
}
