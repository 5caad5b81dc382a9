//! The report of a pruning run: renders a [`PruneRecord`] into a directory as `report.json` (the
//! record itself), `report.md` (a readable summary, [`markdown`]) and two PNG plots ([`plot`]).
//! The number formatting and the step 0 / kept step comparisons the renderers share live here.

mod markdown;
mod plot;

pub use plot::{Line, line_chart};

use crate::output::Outputs;
use anyhow::{Context, Result, anyhow};
use shears_prune::pruner::{LayerWidth, PruneRecord};
use std::path::{Path, PathBuf};

/// Shown for a value the record does not have (e.g. an accuracy when pruning ran without data).
const MISSING: &str = "–";

/// The files [`write_report`] writes, in order.
pub const FILES: &[&str] = &[
    "report.json",
    "report.md",
    "params_accuracy.png",
    "channels.png",
];

/// Writes [`FILES`] into `dir` through `outputs` (which must have planned them) and returns
/// their paths in that order. Everything is rendered in memory first, so a failure leaves no
/// half-written report file.
pub fn write_report(outputs: &Outputs, dir: &Path, record: &PruneRecord) -> Result<Vec<PathBuf>> {
    check(record)?;
    let contents = [
        (serde_json::to_string_pretty(record)? + "\n").into_bytes(),
        markdown::render(record).into_bytes(),
        plot::params_accuracy(record)?,
        plot::channels(record)?,
    ];
    let mut written = Vec::new();
    for (name, bytes) in FILES.iter().zip(contents) {
        let path = dir.join(name);
        outputs
            .write(&path, &bytes)
            .with_context(|| format!("cannot write the report into '{}'", dir.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The renderers index `steps` with 0 and `kept_step`: refuse a record where that would panic.
fn check(record: &PruneRecord) -> Result<()> {
    record
        .check()
        .map_err(|e| anyhow!("the pruning record {e}"))
}

/// One layer of step 0 matched by name with the kept step; `None` where one side lacks it.
struct LayerChange<'a> {
    name: &'a str,
    before: Option<usize>,
    after: Option<usize>,
}

/// Step 0's layers in order, each with its width in the kept step, then any layer only the kept
/// step has.
fn layer_changes(record: &PruneRecord) -> Vec<LayerChange<'_>> {
    let (before, after) = (&record.baseline().layers, &record.kept().layers);
    let width = |layers: &[LayerWidth], name: &str| {
        layers.iter().find(|l| l.name == name).map(|l| l.channels)
    };
    let matched = before.iter().map(|l| LayerChange {
        name: &l.name,
        before: Some(l.channels),
        after: width(after, &l.name),
    });
    let added = after
        .iter()
        .filter(|l| width(before, &l.name).is_none())
        .map(|l| LayerChange {
            name: &l.name,
            before: None,
            after: Some(l.channels),
        });
    matched.chain(added).collect()
}

/// `after` as a percentage of `before` (100 when `before` is 0: nothing to remove).
fn percent_of(after: f64, before: f64) -> f64 {
    if before == 0.0 {
        100.0
    } else {
        100.0 * after / before
    }
}

/// The share of `before` that is gone in `after`, as e.g. `50.0%`.
fn removed(before: f64, after: f64) -> String {
    format!("{:.1}%", 100.0 - percent_of(after, before))
}

/// An accuracy in `[0, 1]` as a percentage with two decimals, or [`MISSING`].
fn accuracy(value: Option<f64>) -> String {
    value.map_or_else(|| MISSING.to_string(), |a| format!("{:.2}%", 100.0 * a))
}

/// An integer with thousands separators: `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
