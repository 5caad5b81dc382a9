//! Channel shuffles: `Reshape [N, C, H, W] -> [N, g, C/g, H, W]`, `Transpose (0, 2, 1, 3, 4)`,
//! `Reshape -> [N, C, H, W]` (ShuffleNet; torchvision's `channel_shuffle`) is one fixed
//! permutation of the channels, imported as [`Op::PermuteChannels`]. The 5-axis values in
//! between never become IR values: they are held here until the pattern completes, and any
//! other use of them is an error.

use shears_ir::{Op, OutletId};

/// A shuffle in progress, keyed by the ONNX value it has reached.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    /// The `[C, H, W]` map being shuffled.
    pub source: OutletId,
    pub shape: [usize; 3],
    pub groups: usize,
    /// Whether the transpose has been seen.
    pub transposed: bool,
}

/// Reads a reshape target (batch first; 0 keeps an axis, -1 is inferred) against `[C, H, W]`:
/// `Some(groups)` for `[N, g, C/g, H, W]`.
pub(crate) fn grouping(target: &[i64], [c, h, w]: [usize; 3]) -> Option<usize> {
    let [_, g, per, th, tw] = *target else {
        return None;
    };
    let known = [g, per, th, tw];
    let fixed = known
        .iter()
        .filter(|&&d| d > 0)
        .try_fold(1i64, |p, &d| p.checked_mul(d))?;
    let total = (c * h * w) as i64;
    let resolve = |d: i64, i: usize| match d {
        0 => [c, h, w].get(i).map(|&v| v as i64),
        -1 => (fixed > 0).then(|| total / fixed),
        d => Some(d),
    };
    let dims: Option<Vec<i64>> = known
        .iter()
        .enumerate()
        .map(|(i, &d)| resolve(d, i))
        .collect();
    match dims?.as_slice() {
        [g, per, th, tw]
            if g.checked_mul(*per) == Some(c as i64)
                && *th == h as i64
                && *tw == w as i64
                && *g > 0 =>
        {
            Some(*g as usize)
        }
        _ => None,
    }
}

/// Whether a reshape target gives back `[N, C, H, W]`.
pub(crate) fn restores(target: &[i64], [c, h, w]: [usize; 3]) -> bool {
    let [_, tc, th, tw] = *target else {
        return false;
    };
    (tc == c as i64 || tc == -1) && th == h as i64 && tw == w as i64
}

/// The permutation of a finished shuffle: output channel `j * g + k` is input channel
/// `k * (C / g) + j`.
pub(crate) fn permutation(p: &Pending) -> Op {
    let (c, g) = (p.shape[0], p.groups);
    let per = c / g;
    let order = (0..c).map(|i| (i % g) * per + i / g).collect();
    Op::PermuteChannels { order }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permutation_is_torchvision_channel_shuffle() {
        // torch: x.view(1, 2, 3, 1, 1).transpose(1, 2).reshape(1, 6, 1, 1) of channels 0..6
        // gives [0, 3, 1, 4, 2, 5].
        let p = Pending {
            source: OutletId::new(0),
            shape: [6, 1, 1],
            groups: 2,
            transposed: true,
        };
        assert_eq!(
            permutation(&p),
            Op::PermuteChannels {
                order: vec![0, 3, 1, 4, 2, 5]
            }
        );
        assert_eq!(grouping(&[0, 2, -1, 1, 1], [6, 1, 1]), Some(2));
        assert_eq!(grouping(&[1, 4, 3, 5, 5], [12, 5, 5]), Some(4));
        assert_eq!(grouping(&[1, 4, 3, 5, 5], [12, 5, 6]), None);
        assert!(restores(&[0, -1, 5, 5], [12, 5, 5]));
    }
}
