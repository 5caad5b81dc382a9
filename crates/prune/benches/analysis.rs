//! How fast shears analyses resnet56 and cuts it down: `cargo bench -p shears-prune --bench analysis`.
//!
//! Each run clones the graph, then times the library's whole path: `DependencyGraph::build`,
//! L1 filter norms of every prunable group, planning and one `prune_groups` call (surgery
//! verifies the graph). Two cases:
//!
//! - half the MACs, local scope: the planner searches for the channel fraction that removes
//!   50% of the MACs (each probe is a dry-run surgery), then cuts;
//! - 30% of the channels, global ranking by L1: Torch-Pruning's comparable prune takes 90 ms
//!   on this machine (46 ms to build its graph, 44 ms to prune).
//!
//! The target for analysis + surgery of resnet56 to half its MACs is 10 ms in release.
//!
//! Then real ONNX models: ResNet-50 and DenseNet-121 from the `onnx` package's light zoo
//! (`backend/test/data/light`, dummy weights made by `ConstantOfShape`). Each is imported,
//! written by shears with its weights materialised (ResNet-50: a ~100 MB file), and that file's
//! import is timed; then 30% of the channels, global L1. The targets are 50 ms (ResNet-50) and
//! 300 ms (DenseNet-121) for analysis + surgery; Torch-Pruning needs 0.54 s and 3.2 s for the
//! same on this machine.

use shears_ir::Graph;
use shears_ir::zoo::{self, ArchSpec};
use shears_prune::DependencyGraph;
use shears_prune::importance::{Criterion, CriterionOptions, GroupScores, Reduction, ScoreContext};
use shears_prune::schedule::{PlanConfig, PlanInput, Scope, Target, apply, plan_for};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

/// Analysis, L1 scoring, planning for `target` and surgery; returns the pruned graph and the
/// time of the analysis alone.
fn prune(graph: &Graph, target: Target, scope: Scope) -> (Graph, Duration) {
    let start = Instant::now();
    let deps = DependencyGraph::build(graph).unwrap();
    let analysis = start.elapsed();
    let groups = deps.groups();
    let prunable: Vec<_> = deps.prunable().collect();
    let mut l1 = Criterion::L1
        .build(&CriterionOptions::new(Reduction::Mean, 0))
        .unwrap();
    let ctx = ScoreContext::new(graph, target.fraction());
    let mut scores: GroupScores = vec![None; groups.len()];
    for (g, s) in prunable.iter().zip(l1.score(&ctx, &prunable).unwrap()) {
        scores[g.id] = s;
    }
    let config = PlanConfig {
        scope,
        ..PlanConfig::default()
    };
    let input = PlanInput {
        graph,
        groups,
        scores: &scores,
        original: &BTreeMap::new(),
        baseline: target.measure(graph).unwrap(),
        reference: None,
    };
    let plan = plan_for(&input, &config, target).unwrap();
    (apply(graph, groups, &plan.cuts).unwrap(), analysis)
}

/// Where the `onnx` Python package keeps its light models, if python3 can tell.
fn light_models() -> Option<std::path::PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend/test/data/light'))",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().into())
}

fn imported(dir: &std::path::Path, name: &str) {
    let light = shears_onnx::load_file(dir.join(format!("light_{name}.onnx"))).unwrap();
    let file = std::env::temp_dir().join(format!("shears-bench-{name}.onnx"));
    shears_onnx::save_file(&light, &file, shears_onnx::Existing::Replace).unwrap();
    let bytes = std::fs::metadata(&file).unwrap().len();
    let mut loads = Vec::new();
    let mut graph = light;
    for _ in 0..5 {
        let start = Instant::now();
        graph = shears_onnx::load_file(&file).unwrap();
        loads.push(start.elapsed());
    }
    std::fs::remove_file(&file).ok();
    let (mut analysis, mut total) = (Vec::new(), Vec::new());
    let mut pruned = graph.clone();
    for _ in 0..15 {
        let start = Instant::now();
        let (p, a) = prune(&graph, Target::Channels(0.3), Scope::Global);
        total.push(start.elapsed());
        analysis.push(a);
        pruned = p;
    }
    println!(
        "{name} (ONNX, {:.1} MB, {} nodes): import {:.0} ms; 30% of channels, global L1: analysis {:.3} ms, analysis + scoring + planning + surgery {:.3} ms (median of {}); params {} -> {}",
        bytes as f64 / 1e6,
        graph.nodes.len(),
        median(loads),
        median(analysis),
        median(total.clone()),
        total.len(),
        graph.param_count(),
        pruned.param_count(),
    );
}

fn main() {
    match light_models() {
        Some(dir) => {
            imported(&dir, "resnet50");
            imported(&dir, "densenet121");
        }
        None => println!("python3 with onnx is not available: skipping the ONNX models"),
    }
    let graph = zoo::build("resnet56", &ArchSpec::default()).unwrap();
    let macs = graph.mac_count().unwrap();
    for (label, target, scope) in [
        ("half the MACs, local L1", Target::Macs(0.5), Scope::Local),
        (
            "30% of channels, global L1",
            Target::Channels(0.3),
            Scope::Global,
        ),
    ] {
        let (mut analysis, mut total) = (Vec::new(), Vec::new());
        let mut pruned = graph.clone();
        for _ in 0..25 {
            let g = graph.clone();
            let start = Instant::now();
            let (p, a) = prune(&g, target, scope);
            total.push(start.elapsed());
            analysis.push(a);
            pruned = p;
        }
        let after = pruned.mac_count().unwrap();
        println!(
            "resnet56, {label}: analysis {:.3} ms, analysis + scoring + planning + surgery {:.3} ms (median of {}); MACs {macs} -> {after} ({:.1}% removed), params {} -> {}",
            median(analysis),
            median(total.clone()),
            total.len(),
            100.0 * (1.0 - after as f64 / macs as f64),
            graph.param_count(),
            pruned.param_count(),
        );
    }
}
