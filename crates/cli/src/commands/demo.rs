//! `shears demo`: the main job on real data. Trains a small model on Fashion-MNIST, evaluates
//! it, and writes the model and its history under `--out-dir` (the demo's own directory, whose
//! files it replaces on every run).

use super::millions;
use crate::args::{BuildArgs, DemoArgs, ModelArgs};
use crate::data::shape_of;
use crate::model;
use crate::progress::TrainProgress;
use anyhow::{Context, Result};
use shears_data::{DataSource, Split};
use shears_runtime::train::{self, TrainConfig, TrainData};
use std::sync::Arc;

pub fn run(args: &DemoArgs) -> Result<()> {
    let device = args.device.kind()?;
    let source = DataSource::parse("fashion-mnist", args.data_dir.clone())?;
    let train_set = Arc::new(source.load(Split::Train)?);
    let test_set = Arc::new(source.load(Split::Test)?);
    let shape = shape_of(&train_set);
    let model_args = ModelArgs {
        model: args.model.clone(),
        build: BuildArgs::default(),
    };
    let mut graph = model::load(&model_args, Some(shape))?;
    println!(
        "shears demo: {} on Fashion-MNIST ({} train / {} test images), {} parameters, {} MACs",
        args.model,
        train_set.len(),
        test_set.len(),
        millions(graph.param_count() as f64),
        millions(graph.mac_count()? as f64)
    );
    // LeNet-5's recipe on Fashion-MNIST: 3 epochs reach ~89.8% top-1 (README); augmentation
    // only pays off over longer runs.
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: 64,
        lr: 0.05,
        crop_padding: 0,
        horizontal_flip: false,
        ..TrainConfig::default()
    };
    let data = TrainData {
        train: train_set,
        test: Some(test_set),
        normalize: source.default_normalize(),
    };
    let history = train::train(
        &mut graph,
        &data,
        &config,
        device,
        None,
        &mut TrainProgress::default(),
    )?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create '{}'", args.out_dir.display()))?;
    let model_path = args.out_dir.join(format!("{}.onnx", args.model));
    model::save(&graph, &model_path)?;
    let history_path = args.out_dir.join("history.json");
    std::fs::write(&history_path, serde_json::to_string_pretty(&history)?)
        .with_context(|| format!("cannot write '{}'", history_path.display()))?;
    let last = history.last().context("no epoch ran")?;
    let test = last.test.as_ref().context("no evaluation ran")?;
    let seconds: f64 = history.iter().map(|h| h.seconds).sum();
    println!(
        "\nresult: {} after {} epochs ({seconds:.0}s of training): test top-1 {:.2}%, top-5 {:.2}%",
        args.model,
        history.len(),
        100.0 * test.top1,
        100.0 * test.top5
    );
    println!(
        "model: {}\nhistory: {}",
        model_path.display(),
        history_path.display()
    );
    Ok(())
}
