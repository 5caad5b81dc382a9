//! Planning: which channels of which groups to remove, given scores and an amount.
//!
//! The amount is a fraction of the *original* channels (those of the model before the first
//! step), so an iterative schedule asks for 0.1, 0.2, ... of the same baseline. Local scope
//! removes that fraction from every group (scaled per layer by `layer_ratios`); global scope
//! ranks every channel of every group by normalised score and removes the lowest until the
//! fraction of all eligible channels is reached. Both honour the limits of [`PlanConfig`]: a
//! cap on the fraction taken from one group, a floor of channels, `round_to`, ignored layers
//! and the first layers left alone.

use super::pattern::matches;
use crate::importance::{GroupScores, Normalization, weight_members};
use crate::sparsity::Granularity;
use crate::{ChannelGroup, PruneError, has_filters};
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use std::collections::BTreeMap;

/// Rank channels within each group, or across all groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    #[default]
    Local,
    Global,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Scope::Local => "local",
            Scope::Global => "global",
        })
    }
}

/// The limits a plan keeps to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanConfig {
    pub scope: Scope,
    /// How group scores are scaled before a global ranking.
    pub normalization: Normalization,
    /// The largest fraction of a group's original channels any plan removes.
    pub max_layer_ratio: f64,
    /// Channels every group keeps at least.
    pub min_channels: usize,
    /// Channel counts after pruning are multiples of this (rounded up), where the group had
    /// at least that many.
    pub round_to: usize,
    /// Layers whose output channels are left alone (names or `*`/`?` globs).
    pub ignore: Vec<String>,
    /// Leave the groups of the first K conv/linear layers alone.
    pub skip_first: usize,
    /// Local scope: per-layer multipliers of the amount, `(pattern, factor)`, first match wins.
    pub layer_ratios: Vec<(String, f64)>,
    /// Leave the groups (or, at a finer granularity, the weights) of the last K conv/linear
    /// layers alone.
    #[serde(default)]
    pub skip_last: usize,
    /// What one decision removes: channels, or masks of single weights, N:M runs or blocks
    /// ([`crate::sparsity`]).
    #[serde(default)]
    pub granularity: Granularity,
    /// Weight granularity: Han et al.'s per-layer rule, mask `|w| < q * std(w)`, with `q`
    /// growing along the schedule to this value, instead of a ranked share.
    #[serde(default)]
    pub std_threshold: Option<f64>,
    /// Local scope: groups that several layers produce (residual streams, whose channels
    /// every block of a stage adds into) lose this times the amount, unless a
    /// [`PlanConfig::layer_ratios`] pattern names them. Sensitivity scans show them
    /// collapsing first; 1 treats them like the others.
    #[serde(default = "no_protection")]
    pub shared_factor: f64,
}

fn no_protection() -> f64 {
    1.0
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            scope: Scope::Local,
            normalization: Normalization::Mean,
            max_layer_ratio: 1.0,
            min_channels: 1,
            round_to: 1,
            ignore: Vec::new(),
            skip_first: 0,
            layer_ratios: Vec::new(),
            skip_last: 0,
            granularity: Granularity::Channel,
            std_threshold: None,
            shared_factor: 1.0,
        }
    }
}

/// Channels to remove from one group (indices into the group, ascending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cut {
    /// The group's id in its [`DependencyGraph`](crate::DependencyGraph).
    pub group: usize,
    pub indices: Vec<usize>,
}

/// Channel counts of every group of the model before the first step, by group
/// [`key`](ChannelGroup::key).
pub type OriginalChannels = BTreeMap<String, usize>;

impl PlanConfig {
    /// Checks the settings and every pattern against `graph`'s layer names.
    pub fn validate(&self, graph: &Graph) -> Result<(), PruneError> {
        if !(0.0..=1.0).contains(&self.max_layer_ratio) {
            return Err(PruneError::Config(format!(
                "`PlanConfig::max_layer_ratio` {} must be between 0 and 1",
                self.max_layer_ratio
            )));
        }
        if !self.layer_ratios.is_empty() && self.scope == Scope::Global {
            return Err(PruneError::Config(
                "per-layer ratios apply to the local scope; a global ranking decides each layer's share itself".into(),
            ));
        }
        if let Some(q) = self.std_threshold
            && !(q.is_finite() && q > 0.0 && self.granularity == Granularity::Weight)
        {
            return Err(PruneError::Config(format!(
                "Han's threshold `PlanConfig::std_threshold` {q} must be positive and needs the weight granularity"
            )));
        }
        if self.round_to == 0 {
            return Err(PruneError::Config(
                "`PlanConfig::round_to` must be at least 1".into(),
            ));
        }
        if !(self.shared_factor.is_finite() && self.shared_factor >= 0.0) {
            return Err(PruneError::Config(format!(
                "`PlanConfig::shared_factor` {} must be a non-negative number",
                self.shared_factor
            )));
        }
        if let Some((p, f)) = self
            .layer_ratios
            .iter()
            .find(|(_, f)| !(f.is_finite() && *f >= 0.0))
        {
            return Err(PruneError::Config(format!(
                "the per-layer factor {f} of '{p}' must be zero or positive"
            )));
        }
        let patterns = self
            .ignore
            .iter()
            .chain(self.layer_ratios.iter().map(|(p, _)| p));
        for pattern in patterns {
            // Patterns name the conv and linear layers whose output channels they protect.
            if !weight_layers(graph).any(|name| matches(pattern, name)) {
                let layers: Vec<_> = weight_layers(graph).take(4).collect();
                return Err(PruneError::Pattern {
                    pattern: pattern.clone(),
                    hint: format!(
                        "patterns name conv and linear layers, such as {} (see `shears info MODEL`)",
                        layers.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// Which groups a plan may touch: prunable, not ignored, not among the first layers.
    pub fn eligible(&self, graph: &Graph, groups: &[ChannelGroup]) -> Vec<bool> {
        let layers: Vec<&str> = weight_layers(graph).collect();
        let first = self.skip_first.min(layers.len());
        let last = layers.len().saturating_sub(self.skip_last).max(first);
        let skipped: Vec<&str> = layers[..first]
            .iter()
            .chain(&layers[last..])
            .copied()
            .collect();
        groups
            .iter()
            .map(|g| {
                let producers = producer_names(g);
                g.is_prunable()
                    && !producers.iter().any(|p| {
                        skipped.contains(p) || self.ignore.iter().any(|pat| matches(pat, p))
                    })
            })
            .collect()
    }

    /// The channels every group must keep: the floor, the cap's share of the original count,
    /// at least one.
    fn min_keep(&self, original: usize) -> usize {
        let cap = (original as f64 * self.max_layer_ratio + 1e-9).floor() as usize;
        self.min_channels.max(original.saturating_sub(cap)).max(1)
    }

    /// `keep` rounded up to a multiple of `round_to`, at most `current`.
    fn round(&self, keep: usize, current: usize) -> usize {
        keep.div_ceil(self.round_to)
            .saturating_mul(self.round_to)
            .min(current)
    }

    fn layer_factor(&self, group: &ChannelGroup) -> f64 {
        let producers = producer_names(group);
        let filters = group
            .members
            .iter()
            .filter(|m| m.kind == crate::MemberKind::Filters)
            .count();
        let default = if filters > 1 { self.shared_factor } else { 1.0 };
        self.layer_ratios
            .iter()
            .find(|(pat, _)| producers.iter().any(|p| matches(pat, p)))
            .map_or(default, |(_, f)| *f)
    }

    /// The plan removing `amount` (a fraction of the original channels) from the groups that
    /// have scores. `scores` is indexed by group id.
    pub fn plan(
        &self,
        groups: &[ChannelGroup],
        scores: &GroupScores,
        original: &OriginalChannels,
        amount: f64,
    ) -> Vec<Cut> {
        let scored = scored(groups, scores, original);
        let counts: Vec<usize> = match self.scope {
            Scope::Local => scored
                .iter()
                .map(|&(g, _, orig)| {
                    let r = (amount * self.layer_factor(g)).clamp(0.0, 1.0);
                    let keep = orig - (orig as f64 * r + 1e-9).floor() as usize;
                    self.removal(keep, g.channels, orig)
                })
                .collect(),
            Scope::Global => self.global_counts(&scored, amount),
        };
        scored
            .iter()
            .zip(counts)
            .filter(|&(_, n)| n > 0)
            .map(|(&(g, s, _), n)| Cut {
                group: g.id,
                indices: lowest(s, n),
            })
            .collect()
    }

    /// The amounts, ascending, at which the plan for `groups` can change: between two
    /// neighbours every amount gives the same plan. A search over amounts only needs these.
    pub fn breakpoints(
        &self,
        groups: &[ChannelGroup],
        scores: &GroupScores,
        original: &OriginalChannels,
    ) -> Vec<f64> {
        let originals = scored(groups, scores, original)
            .into_iter()
            .map(|(g, _, o)| (g, o));
        let mut points: Vec<f64> = match self.scope {
            Scope::Local => originals
                .flat_map(|(g, o)| {
                    let factor = self.layer_factor(g);
                    (1..=o).map(move |k| (k as f64 / o as f64 / factor).min(1.0))
                })
                .collect(),
            Scope::Global => {
                let total: usize = originals.map(|(_, o)| o).sum();
                (1..=total).map(|k| k as f64 / total as f64).collect()
            }
        };
        points.push(0.0);
        points.push(1.0);
        points.sort_by(f64::total_cmp);
        points.dedup();
        points
    }

    /// How many of `current` channels to remove to keep `keep`, within the limits.
    fn removal(&self, keep: usize, current: usize, original: usize) -> usize {
        let keep = self.round(keep.max(self.min_keep(original)), current);
        current.saturating_sub(keep)
    }

    /// Global ranking: how many channels each group loses. The amount is a share of the
    /// groups' channels, each group channel counted once: one that ties channel `j` of every
    /// block of a grouped conv is one, as Torch-Pruning counts (its removal keeps the blocks
    /// equal, so every block loses the same share).
    fn global_counts(
        &self,
        scored: &[(&ChannelGroup, &Vec<f32>, usize)],
        amount: f64,
    ) -> Vec<usize> {
        let total: usize = scored.iter().map(|(_, _, o)| o).sum();
        let already: usize = scored.iter().map(|(g, _, o)| o - g.channels).sum();
        let wanted = ((total as f64 * amount.clamp(0.0, 1.0)) + 1e-9).floor() as usize;
        let mut budget = wanted.saturating_sub(already);
        let mut ranked: Vec<(f32, usize)> = Vec::new();
        for (i, (_, s, _)) in scored.iter().enumerate() {
            let mut s = s.to_vec();
            self.normalization.apply(&mut s);
            ranked.extend(s.into_iter().map(|v| (v, i)));
        }
        ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let allowance: Vec<usize> = scored
            .iter()
            .map(|(g, _, o)| g.channels.saturating_sub(self.min_keep(*o)))
            .collect();
        let mut taken = vec![0usize; scored.len()];
        for (_, i) in ranked {
            if budget == 0 {
                break;
            }
            if taken[i] < allowance[i] {
                taken[i] += 1;
                budget -= 1;
            }
        }
        scored
            .iter()
            .zip(taken)
            .map(|((g, _, o), t)| self.removal(g.channels - t, g.channels, *o))
            .collect()
    }
}

/// The groups that have scores, each with its scores and its original channel count.
fn scored<'a>(
    groups: &'a [ChannelGroup],
    scores: &'a GroupScores,
    original: &OriginalChannels,
) -> Vec<(&'a ChannelGroup, &'a Vec<f32>, usize)> {
    groups
        .iter()
        .filter_map(|g| {
            let s = scores.get(g.id)?.as_ref()?;
            let orig = original.get(&g.key).copied().unwrap_or(g.channels);
            Some((g, s, orig.max(g.channels)))
        })
        .collect()
}

/// The cuts removing `counts[group id]` channels from each group, lowest scores first: how a
/// plan is re-picked when a criterion rescored the groups but the counts must stay.
pub fn cuts_with_counts(scores: &GroupScores, counts: &[usize]) -> Vec<Cut> {
    counts
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n > 0)
        .filter_map(|(group, &n)| {
            let s = scores.get(group)?.as_ref()?;
            Some(Cut {
                group,
                indices: lowest(s, n),
            })
        })
        .collect()
}

/// Indices of the `n` lowest scores, ascending by index (ties broken by lower index first).
fn lowest(scores: &[f32], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    let mut picked = order[..n.min(scores.len())].to_vec();
    picked.sort_unstable();
    picked
}

/// Names of the layers that compute a group's channels: what patterns are matched against.
fn producer_names(group: &ChannelGroup) -> Vec<&str> {
    weight_members(group).map(|m| m.name.as_str()).collect()
}

/// Names of the layers with filters (conv, transposed conv, linear) in graph order.
pub(crate) fn weight_layers(graph: &Graph) -> impl Iterator<Item = &str> {
    graph
        .nodes
        .iter()
        .filter(|n| has_filters(&n.op))
        .map(|n| n.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DependencyGraph;
    use shears_ir::zoo::{self, ArchSpec};

    fn resnet() -> (Graph, Vec<ChannelGroup>) {
        let graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
        let groups = DependencyGraph::build(&graph).unwrap().groups().to_vec();
        (graph, groups)
    }

    fn ramp_scores(groups: &[ChannelGroup]) -> GroupScores {
        groups
            .iter()
            .map(|g| {
                g.is_prunable()
                    .then(|| (0..g.channels).map(|c| c as f32).collect())
            })
            .collect()
    }

    #[test]
    fn local_removes_the_same_fraction_of_each_group_lowest_first() {
        let (_, groups) = resnet();
        let cuts =
            PlanConfig::default().plan(&groups, &ramp_scores(&groups), &BTreeMap::new(), 0.5);
        assert_eq!(
            cuts.len(),
            groups.iter().filter(|g| g.is_prunable()).count()
        );
        for cut in &cuts {
            let n = groups[cut.group].channels;
            assert_eq!(cut.indices, (0..n / 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn limits_hold_floor_cap_and_round_to() {
        let (_, groups) = resnet();
        let scores = ramp_scores(&groups);
        for scope in [Scope::Local, Scope::Global] {
            let config = PlanConfig {
                scope,
                max_layer_ratio: 0.6,
                min_channels: 10,
                round_to: 4,
                ..PlanConfig::default()
            };
            let cuts = config.plan(&groups, &scores, &BTreeMap::new(), 0.9);
            assert!(!cuts.is_empty());
            for cut in &cuts {
                let n = groups[cut.group].channels;
                let keep = n - cut.indices.len();
                assert!(
                    keep >= 10 && keep as f64 >= n as f64 * 0.4 - 1e-9,
                    "{scope:?} {n}->{keep}"
                );
                assert_eq!(keep % 4, 0, "{scope:?} {n}->{keep}");
            }
        }
    }

    #[test]
    fn global_takes_the_lowest_normalised_scores_across_groups() {
        let (_, groups) = resnet();
        // One group scores far lower than all others: global pruning takes it first.
        let mut scores: GroupScores = groups
            .iter()
            .map(|g| g.is_prunable().then(|| vec![1.0; g.channels]))
            .collect();
        let target = groups
            .iter()
            .find(|g| g.is_prunable() && g.channels == 64)
            .unwrap()
            .id;
        scores[target] = Some((0..64).map(|c| if c < 32 { 0.001 } else { 1.0 }).collect());
        let config = PlanConfig {
            scope: Scope::Global,
            normalization: Normalization::None,
            ..PlanConfig::default()
        };
        let total: usize = groups
            .iter()
            .filter(|g| g.is_prunable())
            .map(|g| g.channels)
            .sum();
        let cuts = config.plan(&groups, &scores, &BTreeMap::new(), 32.0 / total as f64);
        assert_eq!(
            cuts,
            vec![Cut {
                group: target,
                indices: (0..32).collect()
            }]
        );
    }

    #[test]
    fn ignored_and_first_layers_are_not_eligible() {
        let (graph, groups) = resnet();
        let config = PlanConfig {
            ignore: vec!["layer3.*".into()],
            skip_first: 1,
            ..PlanConfig::default()
        };
        config.validate(&graph).unwrap();
        let ok = config.eligible(&graph, &groups);
        for (g, ok) in groups.iter().zip(ok) {
            let producers: Vec<_> = weight_members(g).map(|m| m.name.clone()).collect();
            let ignored = producers
                .iter()
                .any(|p| p.starts_with("layer3.") || p == "conv1");
            assert_eq!(ok, g.is_prunable() && !ignored, "{}", g.name);
        }
        let bad = PlanConfig {
            ignore: vec!["layer9.*".into()],
            ..PlanConfig::default()
        };
        let err = bad.validate(&graph).unwrap_err().to_string();
        assert!(
            err.contains("'layer9.*' matches no layer") && err.contains("conv1"),
            "{err}"
        );
    }

    #[test]
    fn amounts_count_from_the_original_channels() {
        let (_, groups) = resnet();
        let g = groups
            .iter()
            .find(|g| g.is_prunable() && g.channels == 16)
            .unwrap();
        // The group had 32 channels originally: 50% of 32 leaves 16, nothing more to take.
        let original = BTreeMap::from([(g.key.clone(), 32)]);
        let cuts = PlanConfig::default().plan(&groups, &ramp_scores(&groups), &original, 0.5);
        assert!(cuts.iter().all(|c| c.group != g.id));
    }
}
