//! Run locks: one shears process at a time per output path.

use crate::FileError;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// An exclusive lock on an output path, held until dropped. The lock is an OS file lock
/// (`flock`) on `.<name>.lock` beside the output, so it is released when the process dies,
/// even by `kill -9`; the lock file is removed on drop.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

impl OutputLock {
    /// Locks `output` for this process, or fails with [`FileError::Busy`] naming the process
    /// that holds it. The output's directory must exist.
    pub fn acquire(output: &Path) -> Result<Self, FileError> {
        let path = lock_path(output)?;
        // A holder may remove the lock file between our open and lock: then lock the new one.
        for _ in 0..8 {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| FileError::io("create the lock", &path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(FileError::Busy {
                        path: output.to_path_buf(),
                        holder: holder(&mut file),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(FileError::io("lock", &path, e)),
            }
            if still_linked(&file, &path) {
                record_holder(&mut file);
                return Ok(OutputLock { file, path });
            }
        }
        Err(FileError::Busy {
            path: output.to_path_buf(),
            holder: None,
        })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock; a waiter that opened it re-checks the link.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

fn lock_path(output: &Path) -> Result<PathBuf, FileError> {
    crate::write::hidden_sibling(output, "lock", ".lock")
}

/// Whether the locked file is still the one at `path` (not removed by the previous holder).
fn still_linked(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn record_holder(file: &mut File) {
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
}

fn holder(file: &mut File) -> Option<String> {
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let pid = text.trim();
    (!pid.is_empty() && pid.len() < 20).then(|| pid.to_string())
}
