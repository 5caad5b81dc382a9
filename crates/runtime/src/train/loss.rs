//! Cross-entropy, distillation losses and top-k accuracy.

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

/// Mean over rows of `-sum_k softmax(teacher / T)_k * log_softmax(logits / T)_k`: the
/// distillation loss, `teacher` being `[N * K]` logits on the host.
pub fn soft_cross_entropy(logits: Tensor<2>, teacher: &[f32], temperature: f32) -> Tensor<1> {
    let [n, k] = logits.dims();
    let targets: Vec<f32> = teacher
        .chunks(k)
        .flat_map(|row| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let e: Vec<f32> = row
                .iter()
                .map(|v| ((v - max) / temperature).exp())
                .collect();
            let sum: f32 = e.iter().sum();
            e.into_iter().map(move |v| v / sum)
        })
        .collect();
    let targets = Tensor::<2>::from_data(TensorData::new(targets, [n, k]), &logits.device());
    let log_p = log_softmax(logits / temperature, 1);
    (targets * log_p).sum_dim(1).mean().neg()
}

/// The mean squared difference of each output from the teacher's (`[N * features]` on the
/// host), summed over outputs: the distillation loss of networks that are not classifiers.
pub fn mean_squared_error(outputs: Vec<Tensor<2>>, teacher: &[Vec<f32>]) -> Tensor<1> {
    outputs
        .into_iter()
        .zip(teacher)
        .map(|(out, t)| {
            let dims = out.dims();
            let t = Tensor::<2>::from_data(TensorData::new(t.clone(), dims), &out.device());
            (out - t).powf_scalar(2.0).mean()
        })
        .reduce(|a, b| a + b)
        .expect("a network has an output")
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
    fn soft_cross_entropy_matches_hand_computation() {
        let device = burn::tensor::Device::flex();
        let logits =
            Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 0.5], [1, 3]), &device);
        let teacher = [0.0f32, 2.0, 2.0];
        let t = 2.0f32;
        let loss: f32 = soft_cross_entropy(logits, &teacher, t).into_scalar();
        let softmax = |v: [f32; 3]| {
            let e = v.map(|x| (x / t).exp());
            let s: f32 = e.iter().sum();
            e.map(|x| x / s)
        };
        let (p, q) = (softmax(teacher), softmax([1.0, 2.0, 0.5]));
        let expected: f32 = -(0..3).map(|i| p[i] * q[i].ln()).sum::<f32>();
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
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
