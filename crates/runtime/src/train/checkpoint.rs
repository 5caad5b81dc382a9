//! Training checkpoints: the model, optimiser state and history, written atomically with a
//! checksum and verified before they are trusted.

use super::{EpochReport, OptimizerState, RunIdentity, TrainConfig};
use crate::RuntimeError;
use bincode::Options;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shears_files::{Existing, sha256_hex};
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
    /// The model and data the run started from.
    pub identity: RunIdentity,
}

/// The file format: bumped whenever a checkpoint's encoding changes (the IR's ops included:
/// bincode numbers enum variants by position), so that an older file is refused by name.
const MAGIC: &[u8; 8] = b"SHEARSC5";

impl Checkpoint {
    /// Writes the checkpoint atomically (see [`write_checkpoint`]).
    pub fn save(&self, path: &Path) -> Result<(), RuntimeError> {
        write_checkpoint(path, MAGIC, self)
    }

    /// Reads and verifies a checkpoint written by [`Checkpoint::save`]: its checksum, its
    /// graph's structure and finite weights, and its epoch count against its history.
    pub fn load(path: &Path) -> Result<Self, RuntimeError> {
        let ckpt: Self = read_checkpoint(path, MAGIC, "a training run")?;
        let fail = |detail: String| RuntimeError::Checkpoint {
            path: path.display().to_string(),
            detail,
        };
        check_graph(&ckpt.graph).map_err(fail)?;
        if ckpt.history.len() != ckpt.epochs_done || ckpt.epochs_done > ckpt.config.epochs {
            return Err(fail(format!(
                "it records {} epochs done of {} with a history of {}: the file is inconsistent",
                ckpt.epochs_done,
                ckpt.config.epochs,
                ckpt.history.len()
            )));
        }
        Ok(ckpt)
    }
}

/// A checkpoint's graph must be well formed and finite before a run continues from it.
pub fn check_graph(graph: &Graph) -> Result<(), String> {
    graph
        .verify()
        .and_then(|()| graph.check_finite())
        .map_err(|e| format!("its model is not usable: {e}"))
}

/// Layout: `magic` (8 bytes), the SHA-256 of the body as 64 hex digits, the body (bincode).
const DIGEST_LEN: usize = 64;

/// Writes `magic`, a checksum and `value` (bincode) through [`shears_files::write_atomic`]: a
/// unique temporary file beside `path`, fsynced, renamed over it, so a kill mid-write leaves the
/// previous checkpoint intact. Replaces only a regular file.
pub fn write_checkpoint<T: Serialize>(
    path: &Path,
    magic: &[u8; 8],
    value: &T,
) -> Result<(), RuntimeError> {
    let fail = |detail: String| RuntimeError::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let body = bincode::serialize(value).map_err(|e| fail(e.to_string()))?;
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(sha256_hex(&body).as_bytes());
    bytes.extend_from_slice(&body);
    shears_files::write_atomic(path, &bytes, Existing::Replace).map_err(|e| fail(e.to_string()))
}

/// Reads a file written by [`write_checkpoint`] with the same `magic` and verifies its
/// checksum before decoding; `writer` names what writes such files, for the error message.
pub fn read_checkpoint<T: DeserializeOwned>(
    path: &Path,
    magic: &[u8; 8],
    writer: &str,
) -> Result<T, RuntimeError> {
    let fail = |detail: String| RuntimeError::Checkpoint {
        path: path.display().to_string(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let rest = bytes.strip_prefix(magic.as_slice()).ok_or_else(|| {
        fail(format!(
            "not a checkpoint of {writer} from this shears version"
        ))
    })?;
    if rest.len() < DIGEST_LEN {
        return Err(fail("truncated: it ends inside its header".into()));
    }
    let (digest, body) = rest.split_at(DIGEST_LEN);
    if sha256_hex(body).as_bytes() != digest {
        return Err(fail(
            "its checksum does not match: the file is corrupt (truncated or altered); start the run afresh".into(),
        ));
    }
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| fail(format!("cannot decode it: {e}")))
}
