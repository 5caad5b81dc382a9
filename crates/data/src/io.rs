//! File reading helpers: whole-file reads with transparent gzip decompression.
//!
//! Gzip is detected by its magic bytes (`1f 8b`), not by the file name.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::DataError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads a whole file; decompresses it if it is gzip-compressed.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.starts_with(&GZIP_MAGIC) {
        gunzip(path, &raw)
    } else {
        Ok(raw)
    }
}

/// Most bytes a gzip file may decompress to (a gzip bomb stops here, not at an abort).
pub const MAX_DECOMPRESSED: u64 = 4 << 30;

/// Decompresses a gzip stream read from `path`.
fn gunzip(path: &Path, compressed: &[u8]) -> Result<Vec<u8>, DataError> {
    let mut out = Vec::with_capacity(size_hint(compressed));
    MultiGzDecoder::new(compressed)
        .take(MAX_DECOMPRESSED + 1)
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                DataError::truncated(path, format!("gzip stream ends early ({e})"))
            }
            _ => DataError::corrupt(path, format!("invalid gzip stream: {e}")),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(DataError::corrupt(
            path,
            format!("it decompresses to more than {MAX_DECOMPRESSED} bytes"),
        ));
    }
    Ok(out)
}

/// Uncompressed size from the gzip trailer (ISIZE, size mod 2^32), capped
/// so that a bogus trailer cannot trigger a huge allocation.
fn size_hint(compressed: &[u8]) -> usize {
    let Some(tail) = compressed.last_chunk::<4>() else {
        return 0;
    };
    let isize = u32::from_le_bytes(*tail) as usize;
    isize.min(compressed.len().saturating_mul(64)).min(1 << 30)
}
