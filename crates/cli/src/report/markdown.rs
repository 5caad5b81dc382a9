//! `report.md`: the run's settings, why it stopped, a table of every step, the before/after
//! summary and the per-layer channel table (step 0 against the kept step).

use super::{MISSING, accuracy, layer_changes, removed, thousands};
use shears_prune::pruner::{PruneRecord, StepRecord, StopReason};
use std::fmt::Write;

/// The whole Markdown document.
pub(super) fn render(record: &PruneRecord) -> String {
    [
        settings(record),
        summary(record),
        steps(record),
        layers(record),
    ]
    .join("\n")
}

fn settings(record: &PruneRecord) -> String {
    let mut out = format!("# Pruning report: {}\n\n", escape(&record.model));
    out += "| Setting | Value |\n| --- | --- |\n";
    for (name, value) in [
        ("Model", escape(&record.model)),
        ("Criterion", escape(&record.criterion)),
        ("Scope", escape(&record.scope)),
        ("Target", escape(&record.target)),
        ("Stopped", stop_reason(record.stopped.as_ref())),
        ("Steps run", (record.steps.len() - 1).to_string()),
        ("Kept step", record.kept_step.to_string()),
    ] {
        row(&mut out, &[name.to_string(), value]);
    }
    out
}

fn stop_reason(reason: Option<&StopReason>) -> String {
    match reason {
        None => MISSING.to_string(),
        Some(StopReason::TargetReached) => "target reached".to_string(),
        Some(StopReason::AccuracyFloor {
            step,
            accuracy: a,
            floor,
        }) => format!(
            "accuracy floor: step {step} reached {}, under the floor of {}",
            accuracy(Some(*a)),
            accuracy(Some(*floor))
        ),
        Some(StopReason::MaxSteps) => "maximum number of steps reached".to_string(),
        Some(StopReason::NothingToPrune) => "nothing left to prune within the limits".to_string(),
    }
}

/// One line: params, MACs and accuracy of step 0 against the kept step.
fn summary(record: &PruneRecord) -> String {
    let (base, kept) = (record.baseline(), record.kept());
    let change = |before: u64, after: u64| {
        let share = removed(before as f64, after as f64);
        format!("{} → {} (-{share})", thousands(before), thousands(after))
    };
    format!(
        "## Summary\n\nStep {} kept: params {}, MACs {}, top-1 accuracy {} → {}.\n",
        record.kept_step,
        change(base.params as u64, kept.params as u64),
        change(base.macs, kept.macs),
        accuracy(base.accuracy),
        accuracy(kept.accuracy)
    )
}

fn steps(record: &PruneRecord) -> String {
    let mut out = String::from("## Steps\n\n");
    row(&mut out, &STEP_COLUMNS.map(String::from));
    out += &format!("|{}\n", " ---: |".repeat(STEP_COLUMNS.len()));
    for step in &record.steps {
        row(&mut out, &step_cells(record, step));
    }
    out += "\nAccuracies are top-1 on the evaluation set: right after pruning, then after fine-tuning.\n";
    out
}

const STEP_COLUMNS: [&str; 10] = [
    "Step",
    "Params",
    "Params removed",
    "MACs",
    "MACs removed",
    "Acc. pruned",
    "Acc. fine-tuned",
    "Loss",
    "Epochs",
    "Seconds",
];

fn step_cells(record: &PruneRecord, step: &StepRecord) -> [String; STEP_COLUMNS.len()] {
    let base = record.baseline();
    [
        step_label(record, step.step),
        thousands(step.params as u64),
        removed(base.params as f64, step.params as f64),
        thousands(step.macs),
        removed(base.macs as f64, step.macs as f64),
        accuracy(step.accuracy_pruned),
        accuracy(step.accuracy),
        step.loss
            .map_or_else(|| MISSING.to_string(), |l| format!("{l:.4}")),
        step.finetune_epochs.to_string(),
        format!("{:.1}", step.seconds),
    ]
}

/// The step number, marked when it is the kept step or the one that fell under the floor.
fn step_label(record: &PruneRecord, step: usize) -> String {
    let under_floor =
        matches!(record.stopped, Some(StopReason::AccuracyFloor { step: s, .. }) if s == step);
    match (step == record.kept_step, under_floor) {
        (true, _) => format!("**{step}** (kept)"),
        (false, true) => format!("{step} (under floor)"),
        (false, false) => step.to_string(),
    }
}

fn layers(record: &PruneRecord) -> String {
    let mut out = format!("## Layers (step 0 → step {})\n\n", record.kept_step);
    row(
        &mut out,
        &["Layer", "Channels before", "Channels after", "% removed"].map(String::from),
    );
    out += "| --- | ---: | ---: | ---: |\n";
    let (mut total_before, mut total_after) = (0, 0);
    for layer in layer_changes(record) {
        let cells = [
            escape(layer.name),
            count(layer.before),
            count(layer.after),
            match (layer.before, layer.after) {
                (Some(b), Some(a)) => removed(b as f64, a as f64),
                _ => MISSING.to_string(),
            },
        ];
        row(&mut out, &cells);
        total_before += layer.before.unwrap_or(0);
        total_after += layer.after.unwrap_or(0);
    }
    let total = removed(total_before as f64, total_after as f64);
    row(
        &mut out,
        &[
            "**Total**".into(),
            count(Some(total_before)),
            count(Some(total_after)),
            total,
        ],
    );
    out
}

fn count(channels: Option<usize>) -> String {
    channels.map_or_else(|| MISSING.to_string(), |c| thousands(c as u64))
}

/// Appends one table row.
fn row(out: &mut String, cells: &[String]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

/// Keeps a name from breaking the table it sits in.
fn escape(text: &str) -> String {
    text.replace('|', "\\|")
}
