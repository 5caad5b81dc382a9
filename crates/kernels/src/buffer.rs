//! Output buffers that a kernel writes in full, allocated without the zero fill of
//! `vec![0.0; n]`: on a large tensor that fill is a serial pass over memory which the kernel
//! then overwrites.

/// A vector of `len` values, all written by `fill`.
///
/// Debug builds fill the vector with NaN first, so that a value `fill` leaves unwritten shows
/// up in every test that checks the output.
///
/// # Safety
///
/// `fill` must write every element of the slice it is given and read none before writing it.
pub(crate) unsafe fn written(len: usize, fill: impl FnOnce(&mut [f32])) -> Vec<f32> {
    let mut values: Vec<f32> = Vec::with_capacity(len);
    if cfg!(debug_assertions) {
        values.resize(len, f32::NAN);
    } else {
        // SAFETY: the capacity is `len`; the caller's `fill` writes each value before
        // anything reads it, and an f32 has no invalid bit patterns.
        unsafe { values.set_len(len) };
    }
    fill(&mut values);
    values
}
