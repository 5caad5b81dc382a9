//! Memory checks before a batch is allocated: a batch too large for the machine is an error
//! naming the batch size, not an abort.

use crate::RuntimeError;
use shears_files::available_bytes;

/// Refuses `batch` samples of `values_per_sample` f32 values each (every value a forward pass
/// computes; twice that for the gradients of training) when they exceed available memory.
pub fn check_batch(batch: usize, values_per_sample: usize) -> Result<(), RuntimeError> {
    if batch == 0 {
        return Err(RuntimeError::Batch {
            batch,
            detail: "a batch needs at least one sample".into(),
        });
    }
    let needed = (batch as u128) * (values_per_sample as u128) * 4 * 2;
    match available_bytes() {
        Some(available) if needed > u128::from(available) => Err(RuntimeError::Batch {
            batch,
            detail: format!(
                "its activations need about {:.1} GiB and {:.1} GiB of memory is available; use a smaller batch",
                needed as f64 / f64::from(1 << 30),
                available as f64 / f64::from(1 << 30)
            ),
        }),
        _ => Ok(()),
    }
}
