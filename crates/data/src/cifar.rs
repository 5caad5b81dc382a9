//! Reader for the CIFAR-10 binary format (`cifar-10-binary.tar.gz`).
//!
//! Each batch file (`data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`)
//! is a sequence of 3073-byte records: one label byte followed by a 32x32 RGB
//! image stored channel-planar (1024 red, 1024 green, 1024 blue bytes), which
//! is exactly the CHW layout of [`Dataset`].

use std::path::{Path, PathBuf};

use crate::{DataError, Dataset, idx::checked_labels, io::read_maybe_gz};

/// Shape of one CIFAR-10 image, `[C, H, W]`.
pub const SHAPE: [usize; 3] = [3, 32, 32];
/// Pixels per image.
pub const IMAGE_LEN: usize = 3 * 32 * 32;
/// Bytes per record: the label byte plus the image.
pub const RECORD_LEN: usize = 1 + IMAGE_LEN;

/// Reads one batch file: returns `(pixels, labels)`.
pub fn read_batch(path: &Path, classes: usize) -> Result<(Vec<u8>, Vec<u16>), DataError> {
    let bytes = read_maybe_gz(path)?;
    if bytes.is_empty() {
        return Err(DataError::truncated(path, "the file is empty"));
    }
    let partial = bytes.len() % RECORD_LEN;
    if partial != 0 {
        return Err(DataError::truncated(
            path,
            format!(
                "{} bytes is not a whole number of {RECORD_LEN}-byte records (last record has {partial} bytes)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD_LEN;
    let mut images = Vec::with_capacity(n * IMAGE_LEN);
    let mut labels = Vec::with_capacity(n);
    for record in bytes.chunks_exact(RECORD_LEN) {
        labels.push(record[0]);
        images.extend_from_slice(&record[1..]);
    }
    Ok((images, checked_labels(path, &labels, classes)?))
}

/// Reads and concatenates batch files, in the given order.
pub fn read_dataset(paths: &[PathBuf], class_names: Vec<String>) -> Result<Dataset, DataError> {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for path in paths {
        let (i, l) = read_batch(path, class_names.len())?;
        images.extend_from_slice(&i);
        labels.extend_from_slice(&l);
    }
    Dataset::new(images, labels, SHAPE, class_names)
}
