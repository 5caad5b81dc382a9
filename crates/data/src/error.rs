//! The error type of `shears-data`.
//!
//! Every variant that concerns a file names that file; "not found" errors list
//! every path that was tried and say how to obtain the data.

use std::path::{Path, PathBuf};

/// Errors from locating, reading, decoding and batching data sets.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A data set (or one of its files) could not be found anywhere.
    #[error("{what} not found; looked in: {}. {hint}", join_paths(.tried))]
    NotFound {
        /// What was looked for, e.g. "Fashion-MNIST (train split)".
        what: String,
        /// Every path (file or directory) that was tried.
        tried: Vec<PathBuf>,
        /// How to obtain the data.
        hint: String,
    },
    /// An I/O error while reading a file or directory.
    #[error("cannot read {}: {error}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A file does not start with the expected magic number.
    #[error("{} is not a valid {format} file: bad magic number {found:#010x} (expected {expected:#010x})", .path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The format that was expected, e.g. "IDX image".
        format: &'static str,
        /// The magic number found.
        found: u32,
        /// The magic number expected.
        expected: u32,
    },
    /// A file is shorter than its header (or format) says it must be.
    #[error("{} is truncated: {detail}", .path.display())]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },
    /// The image file and the label file disagree on the number of samples.
    #[error("sample count mismatch: {} holds {images} images but {} holds {labels} labels", .images_path.display(), .labels_path.display())]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// The label file.
        labels_path: PathBuf,
        /// Number of images.
        images: usize,
        /// Number of labels.
        labels: usize,
    },
    /// Any other malformation of a data file.
    #[error("{} is corrupt: {reason}", .path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An image in an image folder could not be decoded.
    #[error("cannot decode image {}: {error}", .path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        error: image::ImageError,
    },
    /// An image folder does not have the expected layout.
    #[error("invalid image folder {}: {reason}", .root.display())]
    Folder {
        /// The folder.
        root: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A data set specification that `DataSource::parse` does not understand.
    #[error("unknown data set `{0}`; expected one of: fashion-mnist, mnist, cifar10, folder:PATH")]
    UnknownSource(String),
    /// An invalid configuration (normalisation, batch size, indices, ...).
    #[error("invalid data configuration: {0}")]
    Config(String),
}

impl DataError {
    /// Wraps an I/O error together with the path it concerns.
    pub fn io(path: &Path, error: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            error,
        }
    }

    /// A `Corrupt` error for `path`.
    pub fn corrupt(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Corrupt {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// A `Truncated` error for `path`.
    pub fn truncated(path: &Path, detail: impl Into<String>) -> Self {
        DataError::Truncated {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

fn join_paths(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}
