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

    /// Refuses to continue with another model, criterion or settings than the run was
    /// started with (only `max_steps` may change), naming what differs.
    pub fn check_resumable(
        &self,
        config: &PruneConfig,
        criterion: &str,
        model: &str,
    ) -> Result<(), PruneError> {
        let fields = |c: &PruneConfig| match serde_json::to_value(PruneConfig {
            max_steps: None,
            ..c.clone()
        }) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => Default::default(),
        };
        let (then, now) = (fields(&self.config), fields(config));
        let mut differ: Vec<String> = then
            .iter()
            .filter(|(k, v)| now.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k} was {v}"))
            .collect();
        if self.record.criterion != criterion {
            differ.push(format!("criterion was {}", self.record.criterion));
        }
        if self.record.model != model {
            differ.push(format!("model was {}", self.record.model));
        }
        if differ.is_empty() {
            return Ok(());
        }
        Err(PruneError::Config(format!(
            "the checkpoint belongs to a run with other settings ({}); resume with the same options, or start afresh without --resume",
            differ.join("; ")
        )))
    }
}
