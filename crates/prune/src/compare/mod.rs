//! Tools to judge criteria: every criterion's scores side by side, their Spearman rank
//! correlation with the oracle (the experiment of Molchanov et al. 2017), and per-layer
//! sensitivity scans (Distiller's `sensitivity analysis`) that can set per-layer ratios.

mod rank;
mod sensitivity;
mod spearman;

pub use rank::{Correlation, CriterionScores, GroupInfo, RankReport, rank_criteria};
pub use sensitivity::{
    LayerSensitivity, SensitivityPoint, SensitivityReport, layer_ratios, scan_sensitivity,
};
pub use spearman::{ranks, spearman};
