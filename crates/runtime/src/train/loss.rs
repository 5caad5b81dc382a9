//! Cross-entropy loss and top-k accuracy.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor, TensorData};

/// Mean cross-entropy of `logits` `[N, K]` against class `labels`.
pub fn cross_entropy(logits: Tensor<2>, labels: &[i64]) -> Tensor<1> {
    let n = labels.len();
    let targets =
        Tensor::<2, Int>::from_data(TensorData::new(labels.to_vec(), [n, 1]), &logits.device());
    let picked = log_softmax(logits, 1).gather(1, targets);
    picked.mean().neg()
}

/// How many rows rank their label first, and among the first five. A NaN logit ranks above
/// the label, so a model that outputs NaN scores 0, not 100%.
pub fn top1_top5(logits: &[f32], classes: usize, labels: &[i64]) -> (usize, usize) {
    let mut top1 = 0;
    let mut top5 = 0;
    for (row, &label) in logits.chunks(classes).zip(labels) {
        let target = row[label as usize];
        let above = row
            .iter()
            .enumerate()
            .filter(|&(j, &v)| {
                j != label as usize && !(v < target || (v == target && j > label as usize))
            })
            .count();
        top1 += usize::from(above == 0);
        top5 += usize::from(above < 5);
    }
    (top1, top5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_counts_ranks() {
        let logits = [0.1, 0.9, 0.0, /* */ 0.5, 0.2, 0.3];
        assert_eq!(top1_top5(&logits, 3, &[1, 1]), (1, 2));
        assert_eq!(top1_top5(&logits, 3, &[0, 0]), (1, 2));
    }

    #[test]
    fn nan_logits_never_count_as_correct() {
        let logits = [f32::NAN, f32::NAN, f32::NAN];
        assert_eq!(top1_top5(&logits, 3, &[1]), (0, 1));
        assert_eq!(top1_top5(&[0.2, f32::NAN, 0.1], 3, &[0]), (0, 1));
    }

    #[test]
    fn cross_entropy_matches_hand_computation() {
        let device = burn::tensor::Device::flex();
        let logits = Tensor::<2>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 1.0, 1.0, 1.0], [2, 3]),
            &device,
        );
        let loss: f32 = cross_entropy(logits, &[2, 0]).into_scalar();
        let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        let expected = ((lse - 3.0) + 3f32.ln()) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }
}
