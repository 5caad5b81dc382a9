//! Checkpoints of a pruning run: the model kept so far, the record and what every later step
//! is measured against, written atomically after each step.

use super::{PruneConfig, PruneRecord};
use crate::PruneError;
use crate::schedule::OriginalChannels;
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use shears_runtime::train::{read_checked, write_atomic};
use std::path::Path;

const MAGIC: &[u8; 8] = b"SHEARSPR";

/// The state of a run after its last finished step.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PruneCheckpoint {
    /// The model kept so far.
    pub graph: Graph,
    pub record: PruneRecord,
    /// Channels per group of the starting model.
    pub original: OriginalChannels,
    /// The target's quantity (parameters or MACs) on the starting model.
    pub baseline: Option<f64>,
    /// The settings of the run; a resumed run must use the same (steps may be capped
    /// differently with `max_steps`).
    pub config: PruneConfig,
}

impl PruneCheckpoint {
    pub fn save(&self, path: &Path) -> Result<(), PruneError> {
        Ok(write_atomic(path, MAGIC, self)?)
    }

    pub fn load(path: &Path) -> Result<Self, PruneError> {
        Ok(read_checked(path, MAGIC, "`shears prune --checkpoint`")?)
    }

    /// Refuses to continue with other settings than the run was started with.
    pub fn check_resumable(&self, config: &PruneConfig, criterion: &str) -> Result<(), PruneError> {
        let recipe = |c: &PruneConfig| PruneConfig {
            max_steps: None,
            ..c.clone()
        };
        if recipe(&self.config) != recipe(config) || self.record.criterion != criterion {
            return Err(PruneError::Config(format!(
                "the checkpoint was written by a run with other settings (criterion {}, target {}, {} steps); resume with the same options, or start afresh without --resume",
                self.record.criterion, self.config.target, self.config.steps
            )));
        }
        Ok(())
    }
}
