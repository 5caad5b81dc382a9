//! What a resumed run must share with the run that wrote the checkpoint: the starting model
//! and data by content (not by path), and every setting, compared field by field.

use serde::{Deserialize, Serialize};
use shears_data::{Dataset, Normalize};
use shears_files::sha256_hex;
use shears_ir::Graph;

/// Content fingerprints of a run's starting model and data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunIdentity {
    /// SHA-256 of the starting model (its graph and weights).
    pub model: String,
    /// SHA-256 of the training split (shape, classes, images, labels), if any.
    pub train_data: Option<String>,
    /// SHA-256 of the test split, if any.
    pub test_data: Option<String>,
    /// The normalisation's mean and standard deviation.
    pub normalize: Option<(Vec<f32>, Vec<f32>)>,
}

impl RunIdentity {
    /// The fingerprints of `graph` and the data.
    pub fn of(
        graph: &Graph,
        train: Option<&Dataset>,
        test: Option<&Dataset>,
        normalize: Option<&Normalize>,
    ) -> Self {
        RunIdentity {
            model: sha256_hex(&bincode::serialize(graph).unwrap_or_default()),
            train_data: train.map(fingerprint),
            test_data: test.map(fingerprint),
            normalize: normalize.map(|n| (n.mean.clone(), n.std.clone())),
        }
    }

    /// The parts that differ from `now`, named (`the model`, `the training data`, ...).
    pub fn differences(&self, now: &RunIdentity) -> Vec<String> {
        let mut differ = Vec::new();
        if self.model != now.model {
            differ.push("the model (its content differs from the one the run started from)".into());
        }
        if self.train_data != now.train_data {
            differ.push("the training data".into());
        }
        if self.test_data != now.test_data {
            differ.push("the test data".into());
        }
        if self.normalize != now.normalize {
            differ.push(format!(
                "the normalisation (was {})",
                describe(self.normalize.as_ref())
            ));
        }
        differ
    }
}

/// The fields of two settings structs that differ, as `field was X, now Y`.
pub fn setting_differences<T: Serialize>(then: &T, now: &T) -> Vec<String> {
    let fields = |v: &T| match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => Default::default(),
    };
    let (then, now) = (fields(then), fields(now));
    then.iter()
        .filter(|(k, v)| now.get(*k) != Some(*v))
        .map(|(k, v)| {
            let current = now.get(k).map_or("absent".into(), |n| n.to_string());
            format!("{k} was {v}, now {current}")
        })
        .collect()
}

fn fingerprint(set: &Dataset) -> String {
    let mut bytes = Vec::with_capacity(2 * set.labels.len() + 96);
    for d in set.shape.iter().chain([&set.classes, &set.len()]) {
        bytes.extend_from_slice(&(*d as u64).to_le_bytes());
    }
    for label in &set.labels {
        bytes.extend_from_slice(&label.to_le_bytes());
    }
    bytes.extend_from_slice(sha256_hex(&set.images).as_bytes());
    sha256_hex(&bytes)
}

fn describe(normalize: Option<&(Vec<f32>, Vec<f32>)>) -> String {
    normalize.map_or("none".into(), |(mean, std)| {
        format!("mean {mean:?}, std {std:?}")
    })
}
