//! What retraining after a cut starts from, the other half of the retraining question ("Prune
//! Deep Networks"): the surviving weights (fine-tuning; with the original schedule replayed
//! from an epoch, `TrainConfig::schedule_window`, learning-rate rewinding, Renda et al. 2020),
//! the same weights of an early checkpoint of the original training (weight rewinding,
//! Frankle et al. 2020), or fresh ones (the pruned architecture or sparsity pattern trained
//! from scratch, Liu et al. 2019).

use super::{PruneConfig, PruneMode};
use crate::PruneError;
use serde::{Deserialize, Serialize};
use shears_ir::Graph;

/// The weights retraining starts from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum RetrainFrom {
    /// The weights that survive the cut.
    #[default]
    Survivors,
    /// The same positions of this model: the original training's weights at an early epoch.
    /// It must have the architecture of the model pruned; the run has one step.
    Rewound(Box<Graph>),
    /// Fresh weights drawn with this seed ([`Graph::reinitialised`]); the run has one step.
    Scratch { seed: u64 },
}

impl RetrainFrom {
    /// Checks that `graph`, the model to prune, and `config` suit this start.
    pub(super) fn check(&self, graph: &Graph, config: &PruneConfig) -> Result<(), PruneError> {
        let what = match self {
            Self::Survivors => return Ok(()),
            Self::Rewound(early) => {
                same_architecture(graph, early)?;
                "weight rewinding"
            }
            Self::Scratch { .. } => "training from scratch",
        };
        if config.mode != PruneMode::Hard {
            return Err(PruneError::Config(format!(
                "{what} follows a hard cut; soft pruning keeps training its own weights: use `PruneMode::Hard`"
            )));
        }
        if config.steps != 1 || config.finetune_epochs() == 0 {
            return Err(PruneError::Config(format!(
                "{what} retrains once after a one-shot cut: use one step (`PruneConfig::steps` 1) with fine-tuning epochs"
            )));
        }
        Ok(())
    }

    /// The model whose weights the cut keeps: `graph`, or the early model.
    pub(super) fn source<'a>(&'a self, graph: &'a Graph) -> &'a Graph {
        match self {
            Self::Rewound(early) => early,
            _ => graph,
        }
    }

    /// The model retraining starts from, given the cut one.
    pub(super) fn start(&self, cut: Graph) -> Graph {
        match self {
            Self::Scratch { seed } => cut.reinitialised(*seed),
            _ => cut,
        }
    }
}

/// Fails unless `early` has the nodes, ops and weight shapes of `graph`.
fn same_architecture(graph: &Graph, early: &Graph) -> Result<(), PruneError> {
    let shapes = |g: &Graph| -> Vec<(String, &'static str, Vec<Vec<usize>>)> {
        (g.nodes.iter())
            .map(|n| {
                let arrays = n.op.arrays().iter().map(|a| a.shape.clone()).collect();
                (n.name.clone(), n.op.type_name(), arrays)
            })
            .collect()
    };
    let (want, got) = (shapes(graph), shapes(early));
    if want.len() != got.len() {
        return Err(PruneError::Config(format!(
            "the model to rewind to has {} nodes, the model pruned {}: rewind to a checkpoint of the same training",
            got.len(),
            want.len()
        )));
    }
    match want.iter().zip(&got).find(|(w, g)| w != g) {
        Some((w, g)) => Err(PruneError::Config(format!(
            "the model to rewind to differs from the model pruned at node '{}' ({} {:?} against {} {:?}): rewind to a checkpoint of the same training",
            w.0, g.1, g.2, w.1, w.2
        ))),
        None => Ok(()),
    }
}
