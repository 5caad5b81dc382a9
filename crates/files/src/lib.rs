//! Safe file output, shared by every crate that writes a file: the user's files are sacred.
//!
//! - [`write_atomic`] writes to a unique temporary file in the target's directory, fsyncs it and
//!   moves it into place; it never replaces anything but a regular file, and with
//!   [`Existing::Refuse`] it never replaces anything at all (the final link fails if a file
//!   appeared meanwhile). The temporary file is removed on any failure.
//! - [`OutputLock`] marks a path as being written by this process, so that a second run aimed at
//!   the same output stops at once instead of silently losing one result.
//! - [`same_file`] tells whether two paths name one file (so an output can be refused when it is
//!   an input of the run, however its path is spelled), and [`sha256_hex`] fingerprints content.
//! - [`available_bytes`] says how much memory the machine has free, for size checks.

mod error;
mod hash;
mod lock;
mod memory;
mod write;

pub use error::FileError;
pub use hash::{file_sha256, sha256_hex};
pub use lock::OutputLock;
pub use memory::available_bytes;
pub use write::{Existing, check_target, same_file, write_atomic};
