//! Inference on kernels that skip zero weights ([`shears_kernels::SparseConv2d`],
//! [`shears_kernels::SparseLinear`]): what a pruned model's zeros buy on this CPU, beside
//! the dense kernels that multiply them. The values go to the host and back around each
//! sparse layer, so the comparison includes what a sparse layer costs in a dense runtime.

use crate::network::{Network, Step};
use burn::tensor::{Tensor, TensorData};
use shears_kernels::{SparseConv2d, SparseLinear};

/// A layer's weights in compressed rows, with its bias, as they were when taken.
pub(crate) struct SparseLayer {
    kernel: Kernel,
    bias: Option<Vec<f32>>,
}

enum Kernel {
    Conv(SparseConv2d),
    Linear(SparseLinear),
}

impl Network {
    /// Runs every conv and linear layer whose weight is at most `max_density` non-zero on
    /// the sparse kernels in eval mode; returns how many layers that is. For inference only:
    /// the kernels keep the weights as they are now, and training does not update them.
    pub fn use_sparse_kernels(&mut self, max_density: f64) -> usize {
        let mut switched = 0;
        for node in 0..self.steps.len() {
            let layer = match &self.steps[node] {
                Step::Conv {
                    weight,
                    bias,
                    shape,
                    options,
                } => {
                    let w = crate::host_values(self.params[*weight].clone());
                    let input = crate::ops::padded(0, &self.shapes[self.inputs[node][0].node]);
                    let conv = crate::kernels::geometry(&input, shape, options);
                    dense_enough(&w, max_density)
                        .then(|| (Kernel::Conv(SparseConv2d::new(conv, &w)), *bias))
                }
                Step::Linear {
                    weight,
                    bias,
                    shape,
                } => {
                    let w = crate::host_values(self.params[*weight].clone());
                    dense_enough(&w, max_density)
                        .then(|| (Kernel::Linear(SparseLinear::new(&w, shape[0])), *bias))
                }
                _ => None,
            };
            if let Some((kernel, bias)) = layer {
                let bias = bias.map(|b| crate::host_values(self.params[b].clone()));
                self.sparse[node] = Some(SparseLayer { kernel, bias });
                switched += 1;
            }
        }
        switched
    }
}

/// Whether at most `max_density` of `w` is non-zero.
fn dense_enough(w: &[f32], max_density: f64) -> bool {
    let nonzero = w.iter().filter(|v| **v != 0.0).count();
    (nonzero as f64) <= max_density * w.len() as f64
}

impl SparseLayer {
    /// The layer's output for `x` (`[batch, C, H, W]`, or `[batch, features, 1, 1]`), with
    /// the per-sample output shape `out`.
    pub(crate) fn forward(&self, x: Tensor<4>, out: &[usize]) -> Tensor<4> {
        let device = x.device();
        let batch = x.dims()[0];
        let input = crate::host_values(x);
        let len: usize = out.iter().product();
        let mut y = vec![0.0; batch * len];
        let bias = self.bias.as_deref();
        match &self.kernel {
            Kernel::Conv(k) => k.forward(&input, batch, bias, &mut y),
            Kernel::Linear(k) => k.forward(&input, batch, bias, &mut y),
        }
        let dims = crate::ops::padded(batch, out);
        Tensor::from_data(TensorData::new(y, dims), &device)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Mode, Network, host_values};
    use burn::tensor::{Device, Distribution, Tensor};
    use shears_ir::zoo::{self, ArchSpec};
    use shears_ir::{Graph, filter_weight_mut};

    /// `name` with every conv and linear weight masked at every third element and more.
    fn masked(name: &str, input: [usize; 3]) -> Graph {
        let spec = ArchSpec {
            input_shape: input,
            classes: 10,
            seed: 3,
        };
        let mut graph = zoo::build(name, &spec).unwrap();
        for node in &mut graph.nodes {
            if let Some(w) = filter_weight_mut(&mut node.op) {
                let keep: Vec<bool> = (0..w.len()).map(|i| i % 3 == 1 || i % 7 == 0).collect();
                w.restrict(&keep);
            }
        }
        graph.fold_batch_norms()
    }

    #[test]
    fn sparse_kernels_compute_what_the_dense_ones_do() {
        let device = Device::flex();
        for (name, input) in [
            ("resnet20", [3, 16, 16]),
            ("lenet300", [1, 28, 28]),
            ("mobilenetv2", [3, 16, 16]),
        ] {
            let graph = masked(name, input);
            let mut net = Network::new(&graph, &device).unwrap();
            let x = Tensor::random(net.input_dims(2), Distribution::Normal(0.0, 1.0), &device);
            let dense = host_values(net.forward(x.clone(), Mode::Eval));
            let layers = graph
                .nodes
                .iter()
                .filter(|n| shears_ir::filter_weight(&n.op).is_some())
                .count();
            assert_eq!(net.use_sparse_kernels(0.5), layers, "{name}");
            let sparse = host_values(net.forward(x, Mode::Eval));
            let scale = dense.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (s, d) in sparse.iter().zip(&dense) {
                assert!((s - d).abs() <= 1e-4 * scale, "{name}: {s} vs {d}");
            }
        }
        // A dense layer stays on the dense kernels.
        let graph = zoo::build("lenet5", &ArchSpec::default()).unwrap();
        assert_eq!(
            Network::new(&graph, &device)
                .unwrap()
                .use_sparse_kernels(0.5),
            0
        );
    }
}
