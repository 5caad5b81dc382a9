//! Checkpoints of a pruning run: the model kept so far, the record and what every later step
//! is measured against, written atomically with a checksum after each step and verified
//! before a run continues from one.

use super::{PruneConfig, PruneRecord};
use crate::PruneError;
use crate::schedule::OriginalChannels;
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use shears_runtime::RuntimeError;
use shears_runtime::train::{
    RunIdentity, check_graph, read_checkpoint, setting_differences, write_checkpoint,
};
use std::path::Path;

/// Bumped with the training checkpoint's (see `shears_runtime::train::Checkpoint`).
const MAGIC: &[u8; 8] = b"SHEARSP6";

/// The state of a run after its last finished step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneCheckpoint {
    /// The model kept so far.
    pub graph: Graph,
    pub record: PruneRecord,
    /// Channels per group of the starting model.
    pub original: OriginalChannels,
    /// The target's quantity (parameters, MACs or seconds) on the starting model.
    pub baseline: Option<f64>,
    /// The starting model, which a latency target times candidates against; in memory only
    /// (a resumed run is given the starting model again, and checks it by content).
    #[serde(skip)]
    pub reference: Option<Graph>,
    /// The settings of the run; a resumed run must use the same (steps may be capped
    /// differently with `max_steps`).
    pub config: PruneConfig,
    /// The starting model and data, by content.
    pub identity: RunIdentity,
}

impl PruneCheckpoint {
    pub fn save(&self, path: &Path) -> Result<(), PruneError> {
        Ok(write_checkpoint(path, MAGIC, self)?)
    }

    /// Reads a checkpoint and verifies its checksum, its model and its record.
    pub fn load(path: &Path) -> Result<Self, PruneError> {
        let ckpt: Self = read_checkpoint(path, MAGIC, "a pruning run")?;
        let fail = |detail: String| RuntimeError::Checkpoint {
            path: path.display().to_string(),
            detail,
        };
        check_graph(&ckpt.graph).map_err(fail)?;
        ckpt.record
            .check()
            .map_err(|e| fail(format!("its record is inconsistent: {e}")))?;
        Ok(ckpt)
    }

    /// Refuses to continue from another model or data (by content), criterion or settings
    /// than the run was started with (only `max_steps` may change), naming what differs.
    pub fn check_resumable(
        &self,
        config: &PruneConfig,
        criterion: &str,
        identity: &RunIdentity,
    ) -> Result<(), PruneError> {
        let comparable = |c: &PruneConfig| PruneConfig {
            max_steps: None,
            ..c.clone()
        };
        let mut differ = self.identity.differences(identity);
        differ.extend(setting_differences(
            &comparable(&self.config),
            &comparable(config),
        ));
        if self.record.criterion != criterion {
            differ.push(format!(
                "criterion was {}, now {criterion}",
                self.record.criterion
            ));
        }
        if differ.is_empty() {
            return Ok(());
        }
        Err(RuntimeError::Resume(differ.join("; ")).into())
    }
}
