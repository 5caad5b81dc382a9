//! Reader for the IDX format used by MNIST and Fashion-MNIST.
//!
//! An IDX file is a big-endian header — magic `0x0000 08 NN` (`08` = unsigned
//! bytes, `NN` = number of dimensions), then one `u32` per dimension — followed
//! by the data. Images are `idx3` (`N x H x W`), labels `idx1` (`N`). Files may
//! be raw or gzip-compressed (detected by magic bytes).

use std::path::Path;

use crate::{DataError, Dataset, io::read_maybe_gz};

/// Magic number of an IDX file of unsigned bytes with 3 dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with 1 dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Reads an `idx3-ubyte` image file: returns `(pixels, [n, height, width])`.
pub fn read_images(path: &Path) -> Result<(Vec<u8>, [usize; 3]), DataError> {
    let (data, dims) = parse(path, read_maybe_gz(path)?, IMAGES_MAGIC, "IDX image")?;
    let dims = [dims[0], dims[1], dims[2]];
    if dims[1] == 0 || dims[2] == 0 {
        return Err(DataError::corrupt(
            path,
            format!("zero-sized images ({} x {})", dims[1], dims[2]),
        ));
    }
    Ok((data, dims))
}

/// Reads an `idx1-ubyte` label file.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let (data, _) = parse(path, read_maybe_gz(path)?, LABELS_MAGIC, "IDX label")?;
    Ok(data)
}

/// Reads a matching pair of image and label files into a one-channel data set.
pub fn read_dataset(
    images_path: &Path,
    labels_path: &Path,
    class_names: Vec<String>,
) -> Result<Dataset, DataError> {
    let (images, [n, h, w]) = read_images(images_path)?;
    let labels = read_labels(labels_path)?;
    if labels.len() != n {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: n,
            labels: labels.len(),
        });
    }
    let labels = checked_labels(labels_path, &labels, class_names.len())?;
    Dataset::new(images, labels, [1, h, w], class_names)
}

/// Widens labels to `u16`, rejecting any `>= classes` as corruption of `path`.
pub(crate) fn checked_labels(
    path: &Path,
    labels: &[u8],
    classes: usize,
) -> Result<Vec<u16>, DataError> {
    if let Some(i) = labels.iter().position(|&l| usize::from(l) >= classes) {
        return Err(DataError::corrupt(
            path,
            format!(
                "label {} of sample {i} is out of range for {classes} classes",
                labels[i]
            ),
        ));
    }
    Ok(labels.iter().map(|&l| u16::from(l)).collect())
}

/// Validates the header against `magic` and the data length against the
/// dimensions; returns the data (header stripped) and the dimensions.
fn parse(
    path: &Path,
    mut bytes: Vec<u8>,
    magic: u32,
    format: &'static str,
) -> Result<(Vec<u8>, Vec<usize>), DataError> {
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() >= 4 && be_u32(&bytes, 0) != magic {
        return Err(bad_magic(path, format, &bytes, magic));
    }
    if bytes.len() < header {
        return Err(DataError::truncated(
            path,
            format!(
                "{} bytes, but an {format} header needs {header}",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|d| be_u32(&bytes, 4 + 4 * d) as usize)
        .collect();
    check_data_len(path, &dims, bytes.len() - header)?;
    bytes.drain(..header);
    Ok((bytes, dims))
}

fn check_data_len(path: &Path, dims: &[usize], actual: usize) -> Result<(), DataError> {
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| DataError::corrupt(path, format!("absurd dimensions {dims:?}")))?;
    if actual < expected {
        return Err(DataError::truncated(
            path,
            format!("dimensions {dims:?} need {expected} data bytes but only {actual} are present"),
        ));
    }
    if actual > expected {
        return Err(DataError::corrupt(
            path,
            format!(
                "{} unexpected bytes after the {expected} data bytes of dimensions {dims:?}",
                actual - expected
            ),
        ));
    }
    Ok(())
}

fn bad_magic(path: &Path, format: &'static str, bytes: &[u8], expected: u32) -> DataError {
    DataError::BadMagic {
        path: path.to_path_buf(),
        format,
        found: be_u32(bytes, 0),
        expected,
    }
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}
