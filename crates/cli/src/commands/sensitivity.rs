//! `shears sensitivity MODEL --data D [--ratios 0.1,0.2,...] [--criterion C]`: prune each layer
//! alone at each ratio, without fine-tuning, and record the test accuracy (Distiller's
//! sensitivity analysis). `shears prune --ratios-from` turns the JSON into per-layer ratios.

use crate::args::SensitivityArgs;
use crate::criteria::{self, ScoreSource};
use crate::data::{Data, check_fit, shape_of};
use crate::model;
use crate::output::Outputs;
use crate::report::{Line, line_chart};
use anyhow::{Result, bail};
use shears_data::Split;
use shears_prune::DependencyGraph;
use shears_prune::compare::{SensitivityReport, scan_sensitivity};
use shears_runtime::train::evaluate;

pub fn run(args: &SensitivityArgs) -> Result<()> {
    let Some(data) = Data::from_args(&args.data)? else {
        bail!("shears sensitivity evaluates every pruned layer: pass --data");
    };
    let mut outputs = Outputs::new(args.force);
    outputs.model_input(&args.model.model);
    if let Some(dir) = &args.report {
        outputs.in_dir(dir, &["sensitivity.json", "sensitivity.png"], "--report");
    }
    outputs.claim()?;
    let train = data.load(Split::Train)?;
    let test = data.load(Split::Test)?;
    let graph = model::load(&args.model, Some(shape_of(&test)))?;
    check_fit(&graph, &test, &args.model.model, true)?;
    let deps = DependencyGraph::build(&graph)?;
    let groups: Vec<_> = deps.prunable().collect();
    if groups.is_empty() {
        bail!(
            "'{}' has no prunable group; see `shears groups`",
            args.model.model
        );
    }
    let device = args.device.kind()?;
    let source = ScoreSource {
        train: &train,
        normalize: &data.normalize,
        device,
    };
    let options = criteria::options(args.reduction, args.seed, &args.score, Some(source));
    let (_, mut criterion) = criteria::build(&args.criterion, &options)?;
    eprintln!(
        "scanning {} layers of {} at {} ratios, each evaluated on {} test samples",
        groups.len(),
        args.model.model,
        args.ratios.len(),
        args.eval_limit.min(test.len())
    );
    let report = scan_sensitivity(
        &args.model.model,
        &graph,
        &groups,
        criterion.as_mut(),
        &args.ratios,
        |g| {
            Ok(evaluate(
                g,
                &test,
                &data.normalize,
                256,
                Some(args.eval_limit),
                device,
            )?)
        },
        |layer, ratio, accuracy| eprintln!("  {layer} at {ratio:.2}: {:.2}%", 100.0 * accuracy),
    )?;
    if let Some(dir) = &args.report {
        let (path, png) = (dir.join("sensitivity.json"), dir.join("sensitivity.png"));
        outputs.write_json(&path, &report)?;
        outputs.write(&png, &plot(&report)?)?;
        eprintln!("wrote {} and {}", path.display(), png.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

fn print_table(report: &SensitivityReport) {
    println!(
        "top-1 (%) after removing a fraction of one layer's channels ({}, no fine-tuning; baseline {:.2}% on {} samples):",
        report.criterion,
        100.0 * report.baseline_accuracy,
        report.evaluated_samples
    );
    let ratios: Vec<String> = report
        .layers
        .first()
        .map(|l| l.points.iter().map(|p| format!("{:.2}", p.ratio)).collect())
        .unwrap_or_default();
    println!("| layer | channels | {} |", ratios.join(" | "));
    println!("|---|---|{}", "---|".repeat(ratios.len()));
    for layer in &report.layers {
        let cells: Vec<String> = layer
            .points
            .iter()
            .map(|p| format!("{:.2}", 100.0 * p.accuracy))
            .collect();
        println!(
            "| {} | {} | {} |",
            layer.group,
            layer.channels,
            cells.join(" | ")
        );
    }
}

/// Accuracy against ratio, one line per layer.
fn plot(report: &SensitivityReport) -> Result<Vec<u8>> {
    let lines: Vec<Line> = report
        .layers
        .iter()
        .map(|l| Line {
            label: l.group.clone(),
            points: l
                .points
                .iter()
                .map(|p| (p.ratio, 100.0 * p.accuracy))
                .collect(),
        })
        .collect();
    let low = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(100.0, f64::min);
    line_chart(
        "Sensitivity: top-1 after pruning one layer alone, no fine-tuning",
        "Fraction of the layer's channels removed",
        "Top-1 accuracy (%)",
        ((low / 10.0).floor() * 10.0).max(0.0)..100.0,
        &lines,
        None,
    )
}
