//! Training checkpoints: the model, optimiser state and history, written atomically.

use super::{EpochReport, OptimizerState, TrainConfig};
use crate::RuntimeError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use std::path::Path;

/// Everything needed to continue a run after its last finished epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Checkpoint {
    pub graph: Graph,
    pub epochs_done: usize,
    pub optimizer: OptimizerState,
    pub history: Vec<EpochReport>,
    pub config: TrainConfig,
}

const MAGIC: &[u8; 8] = b"SHEARSCK";

impl Checkpoint {
    /// Writes the checkpoint atomically (see [`write_atomic`]).
    pub fn save(&self, path: &Path) -> Result<(), RuntimeError> {
        write_atomic(path, MAGIC, self)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        read_checked(path, MAGIC, "`shears train --checkpoint`")
    }
}

/// Writes `magic` and `value` (bincode) to a temporary file beside `path`, then renames it over
/// `path`, so a kill mid-write leaves the previous file intact.
pub fn write_atomic<T: Serialize>(
    path: &Path,
    magic: &[u8; 8],
    value: &T,
) -> Result<(), RuntimeError> {
    let fail = |detail: String| RuntimeError::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let mut bytes = magic.to_vec();
    bincode::serialize_into(&mut bytes, value).map_err(|e| fail(e.to_string()))?;
    let tmp = path.with_extension("ckpt.tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| fail(format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| fail(format!("cannot rename into place: {e}")))
}

/// Reads a file written by [`write_atomic`] with the same `magic`; `writer` names the command
/// that writes such files, for the error message.
pub fn read_checked<T: DeserializeOwned>(
    path: &Path,
    magic: &[u8; 8],
    writer: &str,
) -> Result<T, RuntimeError> {
    let fail = |detail: String| RuntimeError::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let body = bytes
        .strip_prefix(magic.as_slice())
        .ok_or_else(|| fail(format!("not a shears checkpoint (written by {writer})")))?;
    bincode::deserialize(body)
        .map_err(|e| fail(format!("corrupt or from another shears version: {e}")))
}
