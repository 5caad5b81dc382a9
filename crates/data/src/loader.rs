//! Mini-batch loading: seeded shuffling, augmentation and normalisation done
//! on a background thread that feeds a bounded channel.
//!
//! The order of an epoch and its augmentation depend only on
//! `(seed, epoch)`, so runs are reproducible. Dropping an [`Epoch`] before
//! the end stops its producer thread (the send fails) and joins it.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};

use crate::dataset::check_indices;
use crate::transform::apply_tables;
use crate::{Augment, DataError, Dataset, Normalize};

/// Batches prepared ahead of the consumer.
const PREFETCH: usize = 4;
const SHUFFLE_STREAM: u64 = 1;
const AUGMENT_STREAM: u64 = 2;

/// How a [`BatchLoader`] draws and prepares batches.
#[derive(Debug, Clone, PartialEq)]
pub struct LoaderConfig {
    /// Samples per batch (the last batch may be smaller unless `drop_last`).
    pub batch_size: usize,
    /// Shuffle the samples every epoch.
    pub shuffle: bool,
    /// Seed of the shuffling and augmentation.
    pub seed: u64,
    /// Augmentation (use `Augment::default()` for none).
    pub augment: Augment,
    /// Normalisation applied last.
    pub normalize: Normalize,
    /// Drop a final batch smaller than `batch_size`.
    pub drop_last: bool,
    /// Use only the first `limit` samples.
    pub limit: Option<usize>,
}

impl LoaderConfig {
    /// Training: shuffled, augmented, all batches kept.
    pub fn train(batch_size: usize, seed: u64, augment: Augment, normalize: Normalize) -> Self {
        LoaderConfig {
            batch_size,
            shuffle: true,
            seed,
            augment,
            normalize,
            drop_last: false,
            limit: None,
        }
    }

    /// Evaluation: in order, no augmentation.
    pub fn eval(batch_size: usize, normalize: Normalize) -> Self {
        LoaderConfig {
            shuffle: false,
            ..LoaderConfig::train(batch_size, 0, Augment::default(), normalize)
        }
    }
}

/// A mini-batch of normalised images and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `n * C * H * W` normalised pixels, NCHW.
    pub images: Vec<f32>,
    /// `n` class indices.
    pub labels: Vec<i64>,
    /// Number of samples.
    pub n: usize,
    /// Shape of one sample `[C, H, W]`.
    pub shape: [usize; 3],
}

impl Batch {
    /// `[n, C, H, W]`.
    pub fn dims(&self) -> [usize; 4] {
        [self.n, self.shape[0], self.shape[1], self.shape[2]]
    }
}

/// Produces the batches of one epoch after another over a shared data set.
#[derive(Debug, Clone)]
pub struct BatchLoader {
    data: Arc<Dataset>,
    config: LoaderConfig,
    indices: Vec<usize>,
}

impl BatchLoader {
    /// A loader over all samples of `data` (or the first `config.limit`).
    pub fn new(data: Arc<Dataset>, config: LoaderConfig) -> Result<Self, DataError> {
        let all = (0..data.len()).collect();
        Self::with_indices(data, all, config)
    }

    /// A loader over the given samples of `data` (then `config.limit` applies).
    pub fn with_indices(
        data: Arc<Dataset>,
        mut indices: Vec<usize>,
        config: LoaderConfig,
    ) -> Result<Self, DataError> {
        if config.batch_size == 0 {
            return Err(DataError::Config("batch size must be at least 1".into()));
        }
        config.normalize.check(data.shape[0])?;
        check_indices(&indices, data.len())?;
        indices.truncate(config.limit.unwrap_or(usize::MAX));
        Ok(BatchLoader {
            data,
            config,
            indices,
        })
    }

    /// The data set.
    pub fn dataset(&self) -> &Arc<Dataset> {
        &self.data
    }

    /// The configuration.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// Samples used per epoch (before `drop_last`).
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether the loader has no samples.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let (n, b) = (self.indices.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// The sample order of `epoch` (shuffled iff `config.shuffle`).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order = self.indices.clone();
        if self.config.shuffle {
            let seed = derive_seed(&[self.config.seed, epoch, SHUFFLE_STREAM]);
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        order
    }

    /// Starts producing the batches of `epoch` on a background thread.
    pub fn epoch(&self, epoch: u64) -> Epoch {
        let job = Job {
            data: Arc::clone(&self.data),
            order: self.order(epoch),
            augment: self.config.augment,
            tables: self.config.normalize.tables(),
            batch_size: self.config.batch_size,
            batches: self.num_batches(),
            seed: derive_seed(&[self.config.seed, epoch, AUGMENT_STREAM]),
        };
        let (tx, rx) = sync_channel(PREFETCH);
        let batches = job.batches;
        let worker = std::thread::Builder::new()
            .name("shears-data-loader".into())
            .spawn(move || job.run(tx))
            .expect("cannot spawn the data loader thread");
        Epoch {
            rx: Some(rx),
            worker: Some(worker),
            remaining: batches,
        }
    }
}

/// Everything the producer thread needs for one epoch.
struct Job {
    data: Arc<Dataset>,
    order: Vec<usize>,
    augment: Augment,
    tables: Vec<[f32; 256]>,
    batch_size: usize,
    batches: usize,
    seed: u64,
}

impl Job {
    fn run(self, tx: SyncSender<Batch>) {
        for (b, chunk) in self
            .order
            .chunks(self.batch_size)
            .take(self.batches)
            .enumerate()
        {
            if tx.send(self.batch(b, chunk)).is_err() {
                return; // The consumer stopped early.
            }
        }
    }

    fn batch(&self, b: usize, chunk: &[usize]) -> Batch {
        let mut rng = StdRng::seed_from_u64(derive_seed(&[self.seed, b as u64]));
        let (shape, len) = (self.data.shape, self.data.sample_len());
        let mut images = vec![0f32; chunk.len() * len];
        let mut scratch = vec![0u8; len];
        for (&i, out) in chunk.iter().zip(images.chunks_mut(len)) {
            let mut pixels = self.data.sample(i).image;
            if self.augment.is_active() {
                self.augment.apply(pixels, shape, &mut rng, &mut scratch);
                pixels = &scratch;
            }
            apply_tables(&self.tables, pixels, out);
        }
        Batch {
            images,
            labels: chunk
                .iter()
                .map(|&i| i64::from(self.data.labels[i]))
                .collect(),
            n: chunk.len(),
            shape,
        }
    }
}

/// The batches of one epoch; an iterator fed by a background thread.
#[derive(Debug)]
pub struct Epoch {
    rx: Option<Receiver<Batch>>,
    worker: Option<JoinHandle<()>>,
    remaining: usize,
}

impl Epoch {
    /// Joins the producer, re-raising its panic if it had one.
    fn join(&mut self) {
        if let Some(worker) = self.worker.take()
            && let Err(panic) = worker.join()
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Iterator for Epoch {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        match self.rx.as_ref()?.recv() {
            Ok(batch) => {
                self.remaining = self.remaining.saturating_sub(1);
                Some(batch)
            }
            Err(_) => {
                self.rx = None;
                self.remaining = 0;
                self.join();
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl ExactSizeIterator for Epoch {}

impl Drop for Epoch {
    fn drop(&mut self) {
        self.rx = None; // Unblocks a producer waiting in `send`.
        self.join();
    }
}

/// Mixes several values into one seed (SplitMix64 finaliser per step), so
/// that e.g. `(seed 1, epoch 0)` and `(seed 0, epoch 1)` differ.
pub fn derive_seed(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x9E37_79B9_7F4A_7C15, |h, &p| splitmix64(h ^ p))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
