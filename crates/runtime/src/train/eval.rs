//! Evaluation: top-1 / top-5 accuracy and mean loss over a data set.

use super::{cross_entropy, top1_top5};
use crate::{DeviceKind, Mode, Network, RuntimeError, host_values};
use serde::{Deserialize, Serialize};
use shears_data::{BatchLoader, Dataset, LoaderConfig, Normalize};
use shears_ir::Graph;
use std::sync::Arc;

/// Accuracy and loss over an evaluation set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub top1: f64,
    pub top5: f64,
    pub loss: f64,
    pub samples: usize,
}

/// Evaluates `graph` on `data` (the first `limit` samples if given), with BN folded into the
/// convs before it.
pub fn evaluate(
    graph: &Graph,
    data: &Arc<Dataset>,
    normalize: &Normalize,
    batch_size: usize,
    limit: Option<usize>,
    device: DeviceKind,
) -> Result<EvalReport, RuntimeError> {
    let mut net = Network::new(&graph.fold_batch_norms(), &device.device()?)?;
    let config = LoaderConfig {
        limit,
        ..LoaderConfig::eval(batch_size, normalize.clone())
    };
    let loader = BatchLoader::new(data.clone(), config)?;
    evaluate_network(&mut net, &loader, data.classes)
}

/// Evaluates a compiled network over every batch of `loader`.
pub fn evaluate_network(
    net: &mut Network,
    loader: &BatchLoader,
    classes: usize,
) -> Result<EvalReport, RuntimeError> {
    super::check_classes(net, classes)?;
    let (mut top1, mut top5, mut loss, mut samples) = (0, 0, 0.0, 0);
    for batch in loader.epoch(0) {
        let x = net.batch(batch.images, batch.n, &batch.shape)?;
        let logits = net.forward(x, Mode::Eval);
        let batch_loss: f32 = cross_entropy(logits.clone(), &batch.labels).into_scalar();
        let values = host_values(logits);
        let (a, b) = top1_top5(&values, classes, &batch.labels);
        top1 += a;
        top5 += b;
        loss += batch_loss as f64 * batch.n as f64;
        samples += batch.n;
    }
    let n = samples.max(1) as f64;
    Ok(EvalReport {
        top1: top1 as f64 / n,
        top5: top5 as f64 / n,
        loss: loss / n,
        samples,
    })
}
