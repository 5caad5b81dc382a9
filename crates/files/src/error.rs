//! Errors of safe output: each names the path and says what to do.

use std::path::PathBuf;
use thiserror::Error;

/// Why a file could not be written, locked or read.
#[derive(Debug, Error)]
pub enum FileError {
    /// The path exists and the write may not replace it.
    #[error("'{}' already exists and would be replaced", path.display())]
    Exists { path: PathBuf },
    /// The path exists and is not a regular file (a directory, device, FIFO, socket or symlink).
    #[error("'{}' is {kind}, not a regular file; shears only ever replaces regular files", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    /// Another process holds the lock on this output.
    #[error("'{}' is being written by another shears run{}", path.display(), holder.as_ref().map(|p| format!(" (process {p})")).unwrap_or_default())]
    Busy {
        path: PathBuf,
        holder: Option<String>,
    },
    /// An I/O operation failed.
    #[error("cannot {action} '{}': {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl FileError {
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        FileError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
