//! Fuzzing the checkpoint readers: mutants of real pruning and training checkpoints are
//! refused (checksum) or, when re-signed as a hostile writer would, either refused by the
//! checks after decoding or resumed from, never a panic or a hang. Mutants per suite:
//! `SHEARS_FUZZ_MUTANTS` (default 200).

mod common;

use shears_data::Normalize;
use shears_files::sha256_hex;
use shears_ir::Graph;
use shears_ir::zoo::{self, ArchSpec};
use shears_mutate::{mutant_count, mutate, rng, survive};
use shears_prune::importance::{Criterion, CriterionOptions, Reduction};
use shears_prune::pruner::{PruneCheckpoint, PruneConfig, Pruner, QuietPruner};
use shears_prune::schedule::Target;
use shears_runtime::DeviceKind;
use shears_runtime::train::{self, Checkpoint, Quiet, TrainConfig, TrainData};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Magic (8 bytes) and SHA-256 hex (64) before a checkpoint's body.
const HEADER: usize = 8 + 64;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shears-ckfuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn lenet() -> Graph {
    let spec = ArchSpec {
        input_shape: [1, 12, 12],
        classes: 4,
        seed: 3,
    };
    zoo::build("lenet5", &spec).unwrap()
}

fn prune_config() -> PruneConfig {
    PruneConfig {
        target: Target::Channels(0.5),
        steps: 2,
        ..PruneConfig::default()
    }
}

/// Prunes lenet5 (no data) to 50% of its channels, resuming from `resume` if given.
fn prune(checkpoint: Option<&Path>, resume: Option<PruneCheckpoint>) -> Result<(), String> {
    let mut graph = lenet();
    let mut l1 = Criterion::L1
        .build(&CriterionOptions::new(Reduction::Mean, 0))
        .unwrap();
    let mut pruner = Pruner {
        config: prune_config(),
        criterion: l1.as_mut(),
        data: None,
        device: DeviceKind::Flex,
        checkpoint: checkpoint.map(Path::to_path_buf),
        model: "lenet5".into(),
    };
    pruner
        .run(&mut graph, resume, &mut QuietPruner)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn train_data(graph: &Graph) -> TrainData {
    TrainData {
        train: Arc::new(common::random_dataset(graph, 16, 4, 1)),
        test: Some(Arc::new(common::random_dataset(graph, 8, 4, 2))),
        normalize: Normalize::unit(1),
        teacher: None,
    }
}

fn train_config(epochs: usize, checkpoint: Option<&Path>) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 8,
        lr: 0.01,
        crop_padding: 0,
        horizontal_flip: false,
        checkpoint: checkpoint.map(Path::to_path_buf),
        ..TrainConfig::default()
    }
}

/// Trains lenet5 on random data, resuming from `resume` if given.
fn train(
    epochs: usize,
    checkpoint: Option<&Path>,
    resume: Option<Checkpoint>,
) -> Result<(), String> {
    let mut graph = lenet();
    let data = train_data(&graph);
    train::train(
        &mut graph,
        &data,
        &train_config(epochs, checkpoint),
        DeviceKind::Flex,
        resume,
        &mut Quiet,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// `bytes` with a mutated body and, when `resign`, the checksum recomputed over it.
fn mutant(rng: &mut rand::rngs::StdRng, bytes: &[u8], resign: bool) -> Vec<u8> {
    if !resign {
        return mutate(rng, bytes);
    }
    let body = mutate(rng, &bytes[HEADER..]);
    [&bytes[..8], sha256_hex(&body).as_bytes(), &body].concat()
}

#[test]
fn pruning_checkpoints_survive_mutants() {
    let dir = scratch("prune");
    let path = dir.join("run.ckpt");
    prune(Some(&path), None).unwrap();
    let good = std::fs::read(&path).unwrap();
    PruneCheckpoint::load(&path).unwrap();
    for resign in [false, true] {
        let mut rng = rng(if resign {
            "prune resigned"
        } else {
            "prune raw"
        });
        let mutants = mutant_count(200);
        let tally = survive(
            if resign {
                "prune checkpoint (re-signed)"
            } else {
                "prune checkpoint"
            },
            mutants,
            |_| std::fs::write(&path, mutant(&mut rng, &good, resign)).unwrap(),
            || {
                let ckpt = PruneCheckpoint::load(&path).map_err(|e| e.to_string())?;
                prune(None, Some(ckpt))
            },
        );
        if !resign {
            assert!(
                tally.refused * 10 >= tally.mutants * 9,
                "{tally:?}: the checksum lets mutants through"
            );
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn training_checkpoints_survive_mutants() {
    let dir = scratch("train");
    let path = dir.join("run.ckpt");
    train(1, Some(&path), None).unwrap();
    let good = std::fs::read(&path).unwrap();
    Checkpoint::load(&path).unwrap();
    for resign in [false, true] {
        let mut rng = rng(if resign {
            "train resigned"
        } else {
            "train raw"
        });
        survive(
            if resign {
                "training checkpoint (re-signed)"
            } else {
                "training checkpoint"
            },
            mutant_count(200),
            |_| std::fs::write(&path, mutant(&mut rng, &good, resign)).unwrap(),
            || {
                let ckpt = Checkpoint::load(&path).map_err(|e| e.to_string())?;
                train(2, None, Some(ckpt))
            },
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Two flipped bytes in a weight used to give 8.7e36 and training went on: now the checksum
/// refuses the file, naming it.
#[test]
fn two_flipped_bytes_are_caught() {
    let dir = scratch("flip");
    let path = dir.join("run.ckpt");
    train(1, Some(&path), None).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 40] ^= 0x7f;
    bytes[n - 41] ^= 0x7f;
    std::fs::write(&path, &bytes).unwrap();
    let err = Checkpoint::load(&path).unwrap_err().to_string();
    assert!(
        err.contains("checksum does not match") && err.contains("run.ckpt"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A re-signed checkpoint whose record keeps a step it does not have used to panic in
/// `PruneRecord::kept`; now the load refuses it.
#[test]
fn a_record_keeping_a_missing_step_is_refused() {
    let dir = scratch("record");
    let path = dir.join("run.ckpt");
    prune(Some(&path), None).unwrap();
    let mut ckpt = PruneCheckpoint::load(&path).unwrap();
    ckpt.record.kept_step = 7;
    ckpt.save(&path).unwrap();
    let err = PruneCheckpoint::load(&path).unwrap_err().to_string();
    assert!(err.contains("keeps step 7 of"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}
