//! A bounds-checked view of the `gemm` crate: strided row-major matrices, `dst (+)= lhs · rhs`.

/// A read-only matrix view: element `(r, c)` is `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a> Mat<'a> {
    /// A contiguous row-major `rows x cols` matrix.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of this view (no copy).
    pub fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride
                < self.data.len()
    }
}

/// `dst = lhs · rhs`, or `dst += lhs · rhs` when `accumulate`; `dst` is contiguous row-major.
///
/// Single-threaded: the callers split work by image. (Splitting one image's small products
/// across threads made batch-1 latency slower and, on a shared machine, erratic.)
pub(crate) fn matmul(dst: &mut [f32], lhs: Mat, rhs: Mat, accumulate: bool) {
    matmul_rows(dst, rhs.cols, lhs, rhs, accumulate);
}

/// [`matmul`] with `dst`'s rows `dst_stride` apart.
pub(crate) fn matmul_rows(
    dst: &mut [f32],
    dst_stride: usize,
    lhs: Mat,
    rhs: Mat,
    accumulate: bool,
) {
    let (m, n, k) = (lhs.rows, rhs.cols, lhs.cols);
    assert_eq!(k, rhs.rows, "matmul: inner dimensions differ");
    assert!(
        lhs.fits() && rhs.fits() && dst_stride >= n,
        "matmul: view out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        dst.len() >= (m - 1) * dst_stride + n,
        "matmul: view out of bounds"
    );
    if k == 0 {
        if !accumulate {
            dst.chunks_mut(dst_stride)
                .take(m)
                .for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    // SAFETY: every view was checked to lie inside its slice; `dst` is exclusively borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Each of `blocks` consecutive `rows x cols` row-major matrices of `a`, transposed in place
/// of a new buffer (`cols x rows` each).
pub(crate) fn transpose_blocks(a: &[f32], blocks: usize, rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; a.len()];
    let size = (rows * cols).max(1);
    for (a, out) in a
        .chunks_exact(size)
        .zip(out.chunks_exact_mut(size))
        .take(blocks)
    {
        for (r, row) in a.chunks_exact(cols.max(1)).enumerate() {
            for (c, v) in row.iter().enumerate() {
                out[c * rows + r] = *v;
            }
        }
    }
    out
}
