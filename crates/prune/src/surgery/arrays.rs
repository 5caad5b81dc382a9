//! Cutting and zeroing slices of weight arrays along axes 0 and 1.

use super::plan::NodeCut;
use crate::analysis::is_depthwise;
use shears_ir::{Array, BatchNorm2d, Conv2d, Linear, Op};

/// The op of `cut.node` without the cut rows and columns. Only layers with weights are cut.
pub(super) fn cut_op(op: &Op, cut: &NodeCut) -> Op {
    let (rows, cols) = (cut.rows.as_slice(), cut.cols.as_slice());
    match op {
        Op::Conv2d(c) => Op::Conv2d(Conv2d {
            weight: without(&c.weight, rows, cols),
            bias: c.bias.as_ref().map(|b| without(b, rows, &[])),
            stride: c.stride,
            padding: c.padding,
            dilation: c.dilation,
            // A depthwise conv loses one group per channel; any other conv loses the same
            // number of filters from each of its groups.
            groups: if is_depthwise(c) {
                c.groups - rows.len()
            } else {
                c.groups
            },
        }),
        Op::BatchNorm2d(bn) => Op::BatchNorm2d(BatchNorm2d {
            gamma: without(&bn.gamma, rows, &[]),
            beta: without(&bn.beta, rows, &[]),
            mean: without(&bn.mean, rows, &[]),
            var: without(&bn.var, rows, &[]),
            eps: bn.eps,
            momentum: bn.momentum,
        }),
        Op::Linear(l) => Op::Linear(Linear {
            weight: without(&l.weight, rows, cols),
            bias: l.bias.as_ref().map(|b| without(b, rows, &[])),
        }),
        other => unreachable!("surgery plans cuts only on layers with weights, not {other:?}"),
    }
}

/// Zeroes the cut rows and columns of the op in place (BN: gamma and beta only, which makes
/// its output exactly 0 whatever the running statistics).
pub(super) fn zero_op(op: &mut Op, cut: &NodeCut) {
    let (rows, cols) = (cut.rows.as_slice(), cut.cols.as_slice());
    match op {
        Op::Conv2d(Conv2d { weight, bias, .. }) | Op::Linear(Linear { weight, bias }) => {
            zero(weight, rows, cols);
            if let Some(b) = bias {
                zero(b, rows, &[]);
            }
        }
        Op::BatchNorm2d(bn) => {
            zero(&mut bn.gamma, rows, &[]);
            zero(&mut bn.beta, rows, &[]);
        }
        other => unreachable!("surgery plans cuts only on layers with weights, not {other:?}"),
    }
}

/// `(axis 1 length, elements per axis-1 slice)` of an array of rank 1 or more.
fn layout(a: &Array) -> (usize, usize) {
    let n1 = a.shape.get(1).copied().unwrap_or(1);
    (n1, a.shape.iter().skip(2).product())
}

/// A copy of `a` without the sorted, distinct indices `rows` of axis 0 and `cols` of axis 1.
pub(crate) fn without(a: &Array, rows: &[usize], cols: &[usize]) -> Array {
    debug_assert!(cols.is_empty() || a.shape.len() >= 2);
    let (n1, inner) = layout(a);
    let row_len = n1 * inner;
    let keep_rows = complement(a.shape[0], rows);
    let keep_cols = complement(n1, cols);
    let mut data = Vec::with_capacity(keep_rows.len() * keep_cols.len() * inner);
    for &r in &keep_rows {
        let row = &a.data[r * row_len..(r + 1) * row_len];
        if cols.is_empty() {
            data.extend_from_slice(row);
        } else {
            for &c in &keep_cols {
                data.extend_from_slice(&row[c * inner..(c + 1) * inner]);
            }
        }
    }
    let mut shape = a.shape.clone();
    shape[0] = keep_rows.len();
    if shape.len() >= 2 {
        shape[1] = keep_cols.len();
    }
    Array::new(shape, data)
}

/// Zeroes the indices `rows` of axis 0 and `cols` of axis 1 of `a`.
pub(crate) fn zero(a: &mut Array, rows: &[usize], cols: &[usize]) {
    let (_, inner) = layout(a);
    let row_len = a.row_len().max(1);
    for &r in rows {
        a.data[r * row_len..(r + 1) * row_len].fill(0.0);
    }
    if !cols.is_empty() {
        for row in a.data.chunks_exact_mut(row_len) {
            for &c in cols {
                row[c * inner..(c + 1) * inner].fill(0.0);
            }
        }
    }
}

/// `0..n` without the sorted, distinct `removed`.
fn complement(n: usize, removed: &[usize]) -> Vec<usize> {
    let mut next = removed.iter().peekable();
    (0..n)
        .filter(|&i| {
            if next.peek() == Some(&&i) {
                next.next();
                false
            } else {
                true
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iota(shape: Vec<usize>) -> Array {
        let n = shape.iter().product::<usize>();
        Array::new(shape, (0..n).map(|v| v as f32).collect())
    }

    #[test]
    fn without_removes_rows_and_columns() {
        // [3, 2, 2]: rows of 4, columns of 2.
        let a = iota(vec![3, 2, 2]);
        let b = without(&a, &[1], &[0]);
        assert_eq!(b.shape, vec![2, 1, 2]);
        assert_eq!(b.data, vec![2.0, 3.0, 10.0, 11.0]);
        let v = without(&iota(vec![5]), &[0, 3], &[]);
        assert_eq!(v.data, vec![1.0, 2.0, 4.0]);
    }

    #[test]
    fn zero_clears_rows_and_columns() {
        let mut a = iota(vec![2, 3]);
        zero(&mut a, &[0], &[2]);
        assert_eq!(a.data, vec![0.0, 0.0, 0.0, 3.0, 4.0, 0.0]);
        let mut v = iota(vec![3]);
        zero(&mut v, &[1], &[]);
        assert_eq!(v.data, vec![0.0, 0.0, 2.0]);
    }

    #[test]
    fn complement_skips_removed() {
        assert_eq!(complement(5, &[0, 2, 4]), vec![1, 3]);
        assert_eq!(complement(3, &[]), vec![0, 1, 2]);
    }
}
