//! The in-memory data set: `u8` pixels in CHW order plus integer labels.

use std::fmt;
use std::str::FromStr;

use crate::DataError;

/// Which part of a data set to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training split.
    Train,
    /// The test (or validation) split.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

impl FromStr for Split {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        match s.to_ascii_lowercase().as_str() {
            "train" => Ok(Split::Train),
            "test" | "val" | "eval" => Ok(Split::Test),
            _ => Err(DataError::Config(format!(
                "unknown split `{s}` (expected train or test)"
            ))),
        }
    }
}

/// A labelled image data set held in memory.
///
/// `images` holds `len() * C * H * W` pixels; sample `i` occupies
/// `images[i * sample_len() .. (i + 1) * sample_len()]` in channel-major
/// (CHW) order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// Pixels of all samples, `N * C * H * W`, CHW order per sample.
    pub images: Vec<u8>,
    /// One label per sample, each `< classes`.
    pub labels: Vec<u16>,
    /// Shape of one sample: `[channels, height, width]`.
    pub shape: [usize; 3],
    /// Number of classes.
    pub classes: usize,
    /// Human-readable class names (`classes` entries).
    pub class_names: Vec<String>,
}

/// One sample borrowed from a [`Dataset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    /// Pixels in CHW order.
    pub image: &'a [u8],
    /// Class index.
    pub label: u16,
}

impl Dataset {
    /// Builds a data set, checking that sizes and labels are consistent.
    pub fn new(
        images: Vec<u8>,
        labels: Vec<u16>,
        shape: [usize; 3],
        class_names: Vec<String>,
    ) -> Result<Self, DataError> {
        let classes = class_names.len();
        let sample_len: usize = shape.iter().product();
        if sample_len == 0 {
            return Err(DataError::Config(format!("empty sample shape {shape:?}")));
        }
        if images.len() != labels.len() * sample_len {
            return Err(DataError::Config(format!(
                "{} pixels do not match {} labels of shape {shape:?}",
                images.len(),
                labels.len()
            )));
        }
        if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(DataError::Config(format!(
                "label {bad} out of range for {classes} classes"
            )));
        }
        Ok(Dataset {
            images,
            labels,
            shape,
            classes,
            class_names,
        })
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the data set has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per sample (`C * H * W`).
    pub fn sample_len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Sample `i`. Panics if `i >= len()`, like slice indexing.
    pub fn sample(&self, i: usize) -> Sample<'_> {
        let n = self.sample_len();
        Sample {
            image: &self.images[i * n..(i + 1) * n],
            label: self.labels[i],
        }
    }

    /// Number of samples of each class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[usize::from(l)] += 1;
        }
        counts
    }

    /// A new data set made of the given samples, in the given order.
    pub fn subset(&self, indices: &[usize]) -> Result<Dataset, DataError> {
        check_indices(indices, self.len())?;
        let mut images = Vec::with_capacity(indices.len() * self.sample_len());
        for &i in indices {
            images.extend_from_slice(self.sample(i).image);
        }
        Ok(Dataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            shape: self.shape,
            classes: self.classes,
            class_names: self.class_names.clone(),
        })
    }

    /// Keeps only the first `n` samples (all if `n >= len()`).
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.images.truncate(n * self.sample_len());
        }
    }
}

/// Checks that every index is `< len`.
pub(crate) fn check_indices(indices: &[usize], len: usize) -> Result<(), DataError> {
    match indices.iter().find(|&&i| i >= len) {
        Some(bad) => Err(DataError::Config(format!(
            "sample index {bad} out of range for a data set of {len} samples"
        ))),
        None => Ok(()),
    }
}
