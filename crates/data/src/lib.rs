//! Data sets for shears: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary batches
//! and image folders, with normalisation, augmentation and background batching.
//!
//! ```no_run
//! use std::sync::Arc;
//! use shears_data::{Augment, BatchLoader, DataSource, LoaderConfig, Split};
//!
//! let source = DataSource::parse("fashion-mnist", None)?;
//! let train = Arc::new(source.load(Split::Train)?);
//! let augment = Augment { random_crop_padding: 2, horizontal_flip: true };
//! let config = LoaderConfig::train(64, 42, augment, source.default_normalize());
//! let loader = BatchLoader::new(train, config)?;
//! for batch in loader.epoch(0) {
//!     assert_eq!(batch.images.len(), batch.n * 28 * 28);
//! }
//! # Ok::<(), shears_data::DataError>(())
//! ```

pub mod cifar;
mod dataset;
mod error;
pub mod folder;
pub mod idx;
mod io;
mod loader;
mod named;
mod source;
mod transform;

pub use dataset::{Dataset, Sample, Split};
pub use error::DataError;
pub use folder::FolderOptions;
pub use io::read_maybe_gz;
pub use loader::{Batch, BatchLoader, Epoch, LoaderConfig, derive_seed};
pub use named::NamedSet;
pub use source::DataSource;
pub use transform::{Augment, Normalize, apply_tables, crop_with_padding, flip_horizontal};
