//! Atomic writes that never replace what they must not.

use crate::FileError;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What [`write_atomic`] may do with a file already at the target path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Fail with [`FileError::Exists`]; checked again at the very moment of the move.
    Refuse,
    /// Replace it, if it is a regular file.
    Replace,
}

/// Checks what is at `path` now: nothing, or a regular file that `existing` allows replacing.
/// A symlink counts as not regular (replacing it would cut the link, not write its target).
pub fn check_target(path: &Path, existing: Existing) -> Result<(), FileError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FileError::io("inspect", path, e)),
    };
    if !meta.file_type().is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(&meta.file_type()),
        });
    }
    match existing {
        Existing::Replace => Ok(()),
        Existing::Refuse => Err(FileError::Exists {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes `bytes` to `path`: into a unique temporary file in the same directory, fsynced, then
/// moved into place (and the directory fsynced), so a crash leaves either the old file or the
/// whole new one. Never replaces a non-regular file; with [`Existing::Refuse`] never replaces
/// anything. The temporary file is removed on any failure.
pub fn write_atomic(path: &Path, bytes: &[u8], existing: Existing) -> Result<(), FileError> {
    check_target(path, existing)?;
    remove_stale_temporaries(path);
    let tmp = temporary_beside(path)?;
    let result = write_synced(&tmp, bytes)
        .map_err(|e| FileError::io("write", &tmp, e))
        .and_then(|()| move_into_place(&tmp, path, existing));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(path);
    Ok(())
}

/// Whether `a` and `b` name the same file (same device and inode), however they are spelled.
/// False when either does not exist.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Moves `tmp` to `path`. Refusing: a hard link, which fails if `path` appeared meanwhile.
fn move_into_place(tmp: &Path, path: &Path, existing: Existing) -> Result<(), FileError> {
    match existing {
        Existing::Replace => {
            check_target(path, existing)?;
            std::fs::rename(tmp, path).map_err(|e| FileError::io("move into place", path, e))
        }
        Existing::Refuse => match std::fs::hard_link(tmp, path) {
            Ok(()) => {
                let _ = std::fs::remove_file(tmp);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(FileError::Exists {
                path: path.to_path_buf(),
            }),
            // File systems without hard links: check, then rename.
            Err(_) => {
                check_target(path, existing)?;
                std::fs::rename(tmp, path).map_err(|e| FileError::io("move into place", path, e))
            }
        },
    }
}

/// A fresh name `.<file>.<pid>.<n>.tmp` in the directory of `path`.
fn temporary_beside(path: &Path) -> Result<PathBuf, FileError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    hidden_sibling(path, "write", &format!(".{}.{n}.tmp", std::process::id()))
}

/// `.<file><suffix>` in the directory of `path`; `action` names what failed when `path` names
/// no file.
pub(crate) fn hidden_sibling(
    path: &Path,
    action: &'static str,
    suffix: &str,
) -> Result<PathBuf, FileError> {
    let name = path.file_name().ok_or_else(|| {
        FileError::io(
            action,
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file"),
        )
    })?;
    let mut sibling = OsString::from(".");
    sibling.push(name);
    sibling.push(suffix);
    Ok(path.with_file_name(sibling))
}

/// Removes the temporary files of earlier writes to `path` whose process is gone (killed
/// mid-write, so it could not clean up). Best effort.
fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let pid = file
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Best-effort fsync of the directory holding `path`, so the rename itself is durable.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(dir) = std::fs::File::open(dir) {
        let _ = dir.sync_all();
    }
}

fn kind_of(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}
