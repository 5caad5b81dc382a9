//! Errors of the runtime: each names what was wrong and how to fix it.

use thiserror::Error;

/// What can go wrong when compiling, running or training a network.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Graph(#[from] shears_ir::IrError),
    #[error(transparent)]
    Data(#[from] shears_data::DataError),
    /// The batch does not have the shape the model was built for.
    #[error("input batch has shape {got:?} per sample but the model expects {expected:?}: {hint}")]
    InputShape {
        got: Vec<usize>,
        expected: Vec<usize>,
        hint: String,
    },
    /// The model's output does not match the data's classes.
    #[error(
        "the model outputs {outputs} values per sample but the data set has {classes} classes: build the model with `ArchSpec::classes` {classes} or use matching data"
    )]
    Classes { outputs: usize, classes: usize },
    /// An unknown or not-compiled device.
    #[error("device '{name}' is not available: {hint}")]
    Device { name: String, hint: String },
    /// The loss became NaN or infinite.
    #[error(
        "training diverged: loss is {loss} at epoch {epoch}, batch {batch}; lower the learning rate (`TrainConfig::lr`) or check the data normalisation"
    )]
    Diverged {
        loss: f32,
        epoch: usize,
        batch: usize,
    },
    /// A batch size that cannot run.
    #[error("batch of {batch} samples: {detail}")]
    Batch { batch: usize, detail: String },
    /// A checkpoint file could not be read or written.
    #[error("checkpoint '{path}': {detail}")]
    Checkpoint { path: String, detail: String },
    /// The model uses something the runtime cannot run.
    #[error("cannot run this model: {0}")]
    Unsupported(String),
    /// A checkpoint belongs to another run: what differs, field by field.
    #[error(
        "the checkpoint belongs to another run: {0}; continue it with the same model, data and settings, or start afresh"
    )]
    Resume(String),
    /// A training setting is out of range.
    #[error("invalid training setting: {0}")]
    Config(String),
    /// The observer stopped training ([`crate::train::TrainObserver::after_epoch`]).
    #[error("training stopped: {0}")]
    Stopped(String),
}
