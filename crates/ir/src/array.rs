//! A dense row-major `f32` array with a shape: how the IR stores every weight, with the
//! weight-level pruning mask that keeps removed elements at zero.

use serde::{Deserialize, Serialize};

/// A dense, row-major `f32` array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Array {
    /// Extent of each axis, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values in row-major order.
    pub data: Vec<f32>,
    /// Which elements may be non-zero, one flag per value (weight-level pruning); `None`: all.
    /// A masked-out element is 0 in `data` and stays 0: training masks its gradient, and
    /// checkpoints keep the mask with the weights.
    pub mask: Option<Vec<bool>>,
}

impl Array {
    /// An array from its shape and data. Panics if they disagree: callers that take user input
    /// check with [`Array::try_new`] instead.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self::try_new(shape, data).expect("array data length must match its shape")
    }

    /// An array from its shape and data, or `None` when `data.len()` is not the shape's product.
    pub fn try_new(shape: Vec<usize>, data: Vec<f32>) -> Option<Self> {
        (Self::elements(&shape) == Some(data.len())).then_some(Self {
            shape,
            data,
            mask: None,
        })
    }

    /// The number of elements of `shape`, or `None` if the product overflows.
    pub fn elements(shape: &[usize]) -> Option<usize> {
        shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// An array of zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let len = shape.iter().product();
        Self::new(shape, vec![0.0; len])
    }

    /// An array filled with one value.
    pub fn full(shape: Vec<usize>, value: f32) -> Self {
        let len = shape.iter().product();
        Self::new(shape, vec![value; len])
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of elements in one slice along axis 0 (a filter of a conv weight, a row of a matrix).
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Masks out every element whose flag in `keep` (one per value) is false: zeroes it now
    /// and keeps it at zero from then on. Elements already masked stay masked.
    pub fn restrict(&mut self, keep: &[bool]) {
        assert_eq!(keep.len(), self.data.len(), "one flag per value");
        let mask = self.mask.get_or_insert_with(|| vec![true; keep.len()]);
        for ((m, v), &k) in mask.iter_mut().zip(&mut self.data).zip(keep) {
            *m &= k;
            if !*m {
                *v = 0.0;
            }
        }
    }

    /// Whether element `i` may be non-zero.
    pub fn kept(&self, i: usize) -> bool {
        self.mask.as_ref().is_none_or(|m| m[i])
    }

    /// How many elements are masked out.
    pub fn masked_count(&self) -> usize {
        self.mask
            .as_ref()
            .map_or(0, |m| m.iter().filter(|&&k| !k).count())
    }

    /// How many values are not zero.
    pub fn nonzero_count(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0.0).count()
    }

    /// The `i`-th slice along axis 0.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.row_len();
        &self.data[i * n..(i + 1) * n]
    }

    /// `(elements before, length, elements after)` of `axis`: index `i` of the axis is the
    /// `outer` blocks of `inner` elements at `(o * length + i) * inner`.
    fn around(&self, axis: usize) -> (usize, usize, usize) {
        let outer = self.shape[..axis].iter().product();
        let inner = self.shape[axis + 1..].iter().product();
        (outer, self.shape[axis], inner)
    }

    /// A copy without the indices `removed` (sorted, distinct, in range) of `axis`.
    pub fn without(&self, axis: usize, removed: &[usize]) -> Array {
        let (outer, len, inner) = self.around(axis);
        let keep = complement(len, removed);
        let mut shape = self.shape.clone();
        shape[axis] = keep.len();
        let mut out = Array::new(shape, gather(&self.data, outer, len, inner, &keep));
        out.mask = self
            .mask
            .as_ref()
            .map(|m| gather(m, outer, len, inner, &keep));
        out
    }

    /// Zeroes the indices `indices` (in range) of `axis`.
    pub fn zero_along(&mut self, axis: usize, indices: &[usize]) {
        let (outer, len, inner) = self.around(axis);
        for o in 0..outer {
            for &i in indices {
                let at = (o * len + i) * inner;
                self.data[at..at + inner].fill(0.0);
            }
        }
    }

    /// Adds `factor` times slice `from` of `axis` to slice `to` (a reader's weights on one
    /// input channel folded into another's).
    pub fn add_scaled_along(&mut self, axis: usize, from: usize, to: usize, factor: f32) {
        let (outer, len, inner) = self.around(axis);
        for o in 0..outer {
            let (src, dst) = ((o * len + from) * inner, (o * len + to) * inner);
            for i in 0..inner {
                let v = self.data[src + i];
                self.data[dst + i] += factor * v;
            }
        }
    }

    /// For every index of the axes before `axis` (a conv's or linear layer's outputs), the
    /// sum of slice `index` of `axis`.
    pub fn slice_sums(&self, axis: usize, index: usize) -> Vec<f32> {
        let (outer, len, inner) = self.around(axis);
        (0..outer)
            .map(|o| {
                let at = (o * len + index) * inner;
                self.data[at..at + inner].iter().sum()
            })
            .collect()
    }

    /// [`Array::zero_along`], and masks those elements too ([`Array::restrict`]): they stay
    /// zero through training.
    pub fn restrict_along(&mut self, axis: usize, indices: &[usize]) {
        let mut marker = Array::full(self.shape.clone(), 1.0);
        marker.zero_along(axis, indices);
        let keep: Vec<bool> = marker.data.iter().map(|&v| v != 0.0).collect();
        self.restrict(&keep);
    }

    /// The elements whose index along `axis` is in `range`, in memory order (a filter, the
    /// slice of every filter that reads one input channel), or `None` if `range` does not fit.
    pub fn slice_along(&self, axis: usize, range: std::ops::Range<usize>) -> Option<Vec<f32>> {
        if axis >= self.shape.len() || range.end > self.shape[axis] {
            return None;
        }
        let (outer, len, inner) = self.around(axis);
        let mut out = Vec::with_capacity(outer * range.len() * inner);
        for o in 0..outer {
            let at = (o * len + range.start) * inner;
            out.extend_from_slice(&self.data[at..at + range.len() * inner]);
        }
        Some(out)
    }
}

/// The `keep` indices of the middle axis of `values`, seen as `[outer, len, inner]`.
fn gather<T: Copy>(values: &[T], outer: usize, len: usize, inner: usize, keep: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(outer * keep.len() * inner);
    for o in 0..outer {
        for &i in keep {
            let at = (o * len + i) * inner;
            out.extend_from_slice(&values[at..at + inner]);
        }
    }
    out
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
    fn without_removes_indices_of_any_axis() {
        // [3, 2, 2]: rows of 4, columns of 2.
        let a = iota(vec![3, 2, 2]);
        let b = a.without(0, &[1]).without(1, &[0]);
        assert_eq!(b.shape, vec![2, 1, 2]);
        assert_eq!(b.data, vec![2.0, 3.0, 10.0, 11.0]);
        assert_eq!(a.without(2, &[0]).data, vec![1.0, 3.0, 5.0, 7.0, 9.0, 11.0]);
        let v = iota(vec![5]).without(0, &[0, 3]);
        assert_eq!(v.data, vec![1.0, 2.0, 4.0]);
    }

    #[test]
    fn a_mask_zeroes_and_follows_removed_indices() {
        let mut a = iota(vec![3, 2]);
        a.restrict(&[true, false, true, true, false, true]);
        a.restrict(&[true, true, true, false, true, true]);
        assert_eq!(a.data, vec![0.0, 0.0, 2.0, 0.0, 0.0, 5.0]);
        assert_eq!(a.masked_count(), 3);
        assert_eq!(a.nonzero_count(), 2);
        let b = a.without(0, &[1]);
        assert_eq!(b.data, vec![0.0, 0.0, 0.0, 5.0]);
        assert_eq!(b.mask, Some(vec![true, false, false, true]));
        assert!(!b.kept(1) && b.kept(3));
    }

    #[test]
    fn zero_along_clears_slices() {
        let mut a = iota(vec![2, 3]);
        a.zero_along(0, &[0]);
        a.zero_along(1, &[2]);
        assert_eq!(a.data, vec![0.0, 0.0, 0.0, 3.0, 4.0, 0.0]);
    }

    #[test]
    fn slice_along_gathers_in_memory_order() {
        let a = iota(vec![2, 3, 2]);
        assert_eq!(a.slice_along(1, 1..2).unwrap(), vec![2.0, 3.0, 8.0, 9.0]);
        assert_eq!(a.slice_along(0, 1..2).unwrap(), a.row(1));
        assert_eq!(a.slice_along(1, 2..4), None);
        assert_eq!(a.slice_along(3, 0..1), None);
    }

    #[test]
    fn complement_skips_removed() {
        assert_eq!(complement(5, &[0, 2, 4]), vec![1, 3]);
        assert_eq!(complement(3, &[]), vec![0, 1, 2]);
    }
}
