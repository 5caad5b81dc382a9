//! `shears rank MODEL --data D --criteria taylor,l1,... [--oracle]`: every criterion's scores
//! for every prunable group and, with the oracle, each criterion's Spearman correlation with
//! it per layer and overall, as tables, JSON and a plot.

use crate::args::RankArgs;
use crate::criteria::{self, ScoreSource};
use crate::data::{Data, check_fit, shape_of};
use crate::model;
use crate::output::Outputs;
use crate::report::{Line, line_chart};
use anyhow::{Result, bail};
use shears_data::Split;
use shears_prune::DependencyGraph;
use shears_prune::compare::{RankReport, rank_criteria};
use shears_prune::importance::{Criterion, Importance};

pub fn run(args: &RankArgs) -> Result<()> {
    let Some(data) = Data::from_args(&args.data)? else {
        bail!("shears rank scores channels on data: pass --data");
    };
    let mut outputs = Outputs::new(args.force);
    outputs.model_input(&args.model.model);
    if let Some(dir) = &args.report {
        outputs.in_dir(dir, &["rank.json", "spearman.png"], "--report");
    }
    outputs.claim()?;
    let train = data.load(Split::Train)?;
    let graph = model::load(&args.model, Some(shape_of(&train)))?;
    check_fit(&graph, &train, &args.model.model, true)?;
    let deps = DependencyGraph::build(&graph)?;
    let groups: Vec<_> = deps.prunable().collect();
    if groups.is_empty() {
        bail!(
            "'{}' has no prunable group; see `shears groups`",
            args.model.model
        );
    }
    let source = ScoreSource {
        train: &train,
        normalize: &data.normalize,
        device: args.device.kind()?,
    };
    let options = criteria::options(args.reduction, args.seed, &args.score, Some(source));
    let mut built: Vec<Box<dyn Importance>> = Vec::new();
    for name in &args.criteria {
        let (criterion, importance) = criteria::build(name, &options)?;
        if criterion == Criterion::Oracle {
            bail!(
                "--criteria: the oracle is what criteria are compared with; pass --oracle instead"
            );
        }
        built.push(importance);
    }
    let oracle = if args.oracle {
        Some(Criterion::Oracle.build(&options)?)
    } else {
        None
    };
    eprintln!(
        "scoring {} groups of {} on {} x {} training samples",
        groups.len(),
        args.model.model,
        args.score.score_batches,
        args.score.score_batch_size
    );
    let report = rank_criteria(
        &args.model.model,
        &graph,
        &groups,
        &mut built,
        oracle,
        |name, seconds| eprintln!("  {name}: {seconds:.1} s"),
    )?;
    if let Some(dir) = &args.report {
        let path = dir.join("rank.json");
        outputs.write_json(&path, &report)?;
        eprintln!("wrote {}", path.display());
        if report.oracle.is_some() {
            let plot = dir.join("spearman.png");
            outputs.write(&plot, &spearman_plot(&report)?)?;
            eprintln!("wrote {}", plot.display());
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_tables(&report);
    }
    Ok(())
}

fn rho(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:+.3}"))
}

fn print_tables(report: &RankReport) {
    if report.oracle.is_none() {
        println!("channels each criterion would remove first (lowest five scores):");
        for (g, group) in report.groups.iter().enumerate() {
            println!("{} ({} channels)", group.name, group.channels);
            for c in &report.criteria {
                let lowest = c.scores[g].as_ref().map_or("–".into(), |s| {
                    let mut order: Vec<usize> = (0..s.len()).collect();
                    order.sort_by(|&a, &b| s[a].total_cmp(&s[b]));
                    format!("{:?}", &order[..order.len().min(5)])
                });
                println!("  {:<22} {lowest}", c.criterion);
            }
        }
        return;
    }
    println!("Spearman correlation with the oracle:");
    println!("| criterion | overall | mean per layer | seconds |");
    println!("|---|---|---|---|");
    for c in &report.criteria {
        let s = c.spearman.as_ref().expect("oracle ran");
        println!(
            "| {} | {} | {} | {:.1} |",
            c.criterion,
            rho(s.overall),
            rho(s.mean_per_layer),
            c.seconds
        );
    }
    if let Some(o) = &report.oracle {
        println!("| oracle | | | {:.1} |", o.seconds);
    }
    println!("\nper layer:");
    let names: Vec<&str> = report
        .criteria
        .iter()
        .map(|c| c.criterion.as_str())
        .collect();
    println!("| layer | channels | {} |", names.join(" | "));
    println!("|---|---|{}", "---|".repeat(names.len()));
    for (g, group) in report.groups.iter().enumerate() {
        let cells: Vec<String> = report
            .criteria
            .iter()
            .map(|c| rho(c.spearman.as_ref().and_then(|s| s.per_layer[g])))
            .collect();
        println!(
            "| {} | {} | {} |",
            group.name,
            group.channels,
            cells.join(" | ")
        );
    }
}

/// Spearman's rho per layer, one line per criterion.
fn spearman_plot(report: &RankReport) -> Result<Vec<u8>> {
    let lines: Vec<Line> = report
        .criteria
        .iter()
        .map(|c| Line {
            label: format!(
                "{} (overall {})",
                c.criterion,
                rho(c.spearman.as_ref().and_then(|s| s.overall))
            ),
            points: c
                .spearman
                .iter()
                .flat_map(|s| s.per_layer.iter().enumerate())
                .filter_map(|(i, r)| Some((i as f64, (*r)?)))
                .collect(),
        })
        .collect();
    let names: Vec<String> = report.groups.iter().map(|g| g.name.clone()).collect();
    line_chart(
        "Spearman correlation with the oracle, per layer",
        "Layer (group)",
        "Spearman rho",
        -1.0..1.0,
        &lines,
        Some(&names),
    )
}
