//! Training-mode batch norm against an f64 reference: the forward pass by its definition, the
//! gradients by central finite differences of `sum(y * dy)`.

use proptest::prelude::*;
use shears_kernels::{Activation, BatchNorm};

const EPS: f64 = 1e-5;

/// `sum(y * dy)` in f64, `y` the batch-normalised `x`.
fn loss(bn: &BatchNorm, x: &[f64], gamma: &[f64], beta: &[f64], dy: &[f64]) -> f64 {
    let idx = |n: usize, c: usize, i: usize| (n * bn.channels + c) * bn.plane + i;
    let count = (bn.batch * bn.plane) as f64;
    let mut total = 0.0;
    for c in 0..bn.channels {
        let values = || (0..bn.batch).flat_map(move |n| (0..bn.plane).map(move |i| idx(n, c, i)));
        let mean = values().map(|j| x[j]).sum::<f64>() / count;
        let var = values().map(|j| (x[j] - mean).powi(2)).sum::<f64>() / count;
        for j in values() {
            total += (gamma[c] * (x[j] - mean) / (var + EPS).sqrt() + beta[c]) * dy[j];
        }
    }
    total
}

fn gradient(f: impl Fn(&[f64]) -> f64, at: &[f64]) -> Vec<f64> {
    let h = 1e-4;
    (0..at.len())
        .map(|i| {
            let (mut up, mut down) = (at.to_vec(), at.to_vec());
            up[i] += h;
            down[i] -= h;
            (f(&up) - f(&down)) / (2.0 * h)
        })
        .collect()
}

fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn case() -> impl Strategy<Value = (BatchNorm, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>)> {
    (1usize..4, 1usize..4, 1usize..6)
        .prop_filter("more than one value per channel", |(b, _, p)| b * p > 1)
        .prop_flat_map(|(batch, channels, plane)| {
            let len = batch * channels * plane;
            (
                Just(BatchNorm {
                    batch,
                    channels,
                    plane,
                }),
                prop::collection::vec(-2.0f32..2.0, len),
                prop::collection::vec(0.5f32..2.0, channels),
                prop::collection::vec(-1.0f32..1.0, channels),
                prop::collection::vec(-1.0f32..1.0, len),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn batch_norm_matches_its_definition_and_finite_differences((bn, x, gamma, beta, dy) in case()) {
        let wide = |v: &[f32]| v.iter().map(|x| *x as f64).collect::<Vec<f64>>();
        let (xd, gd, bd, dyd) = (wide(&x), wide(&gamma), wide(&beta), wide(&dy));
        let (y, mean, var) = bn.forward(&x, &gamma, &beta, EPS);
        // Forward: d/d(beta) of the loss is sum(dy), so compare y through a one-hot dy instead.
        for j in 0..y.len() {
            let mut one = vec![0.0; y.len()];
            one[j] = 1.0;
            let want = loss(&bn, &xd, &gd, &bd, &one);
            prop_assert!((y[j] as f64 - want).abs() <= 1e-4 * (1.0 + want.abs()), "y[{}]", j);
        }
        let grads = bn.backward(&x, &gamma, [&mean, &var], EPS, &dy);
        // Near-constant channels make finite differences of 1/sigma ill-conditioned.
        prop_assume!(var.iter().all(|v| *v > 1e-2));
        close(&grads.x, &gradient(|x| loss(&bn, x, &gd, &bd, &dyd), &xd), 2e-3, "dx");
        close(&grads.gamma, &gradient(|g| loss(&bn, &xd, g, &bd, &dyd), &gd), 2e-3, "dgamma");
        close(&grads.beta, &gradient(|b| loss(&bn, &xd, &gd, b, &dyd), &bd), 2e-3, "dbeta");
    }

    /// Batch norm + ReLU in one pass is exactly ReLU after batch norm, and its gradients are
    /// exactly batch norm's gradients of `dy` masked where the output was positive.
    #[test]
    fn batch_norm_then_relu_is_relu_after_batch_norm((bn, x, gamma, beta, dy) in case()) {
        let (y, mean, var) = bn.forward(&x, &gamma, &beta, EPS);
        let (fused, fused_mean, fused_var) =
            bn.forward_then(&x, [&gamma, &beta], EPS, Activation::Relu);
        let relu: Vec<f32> = y.iter().map(|v| v.max(0.0)).collect();
        prop_assert_eq!(&fused, &relu);
        prop_assert_eq!((&fused_mean, &fused_var), (&mean, &var));
        let masked: Vec<f32> = y.iter().zip(&dy).map(|(y, d)| if *y > 0.0 { *d } else { 0.0 }).collect();
        let want = bn.backward(&x, &gamma, [&mean, &var], EPS, &masked);
        let got = bn.backward_then(&x, [&gamma, &beta], [&mean, &var], EPS, &dy, Activation::Relu);
        prop_assert_eq!(got.x, want.x);
        prop_assert_eq!(got.gamma, want.gamma);
        prop_assert_eq!(got.beta, want.beta);
    }
}
