//! The Filter Skeleton of stripe-wise pruning (SWP, Meng et al. 2020, "Pruning Filter in
//! Filter"): a learnable factor per kernel position of each conv filter, `[out, kh, kw]`,
//! initialised to 1 and multiplied into the weight across its input channels. Training puts
//! an L1 penalty on it and sets entries under a threshold to zero after every step, as the
//! authors' code does (sparsity 1e-5, threshold 0.01); when the weights are written back the
//! skeleton is folded into them and each stripe whose factor is zero is masked
//! ([`shears_ir::Array::restrict`]), ready for `--granularity stripe`.

use crate::network::{Network, Step};
use burn::tensor::Tensor;
use shears_ir::{Array, Graph, Op};

impl Network {
    /// Gives every conv with a kernel larger than 1x1 a Filter Skeleton of ones, trained with
    /// the other parameters.
    pub fn add_filter_skeletons(&mut self) {
        for node in 0..self.steps.len() {
            let Step::Conv { shape, .. } = &self.steps[node] else {
                continue;
            };
            let [out, _, kh, kw] = *shape;
            if kh * kw > 1 && self.skeletons[node].is_none() {
                let ones = Array::full(vec![out * kh * kw], 1.0);
                self.skeletons[node] = Some(self.add_param(&ones));
            }
        }
    }

    /// The sum of |skeleton| over every conv that has one: SWP's sparsity penalty; `None`
    /// without skeletons.
    pub fn skeleton_l1(&self) -> Option<Tensor<1>> {
        self.params_l1(self.skeletons.iter().flatten().copied())
    }

    /// Sets every skeleton entry with `|s| <= threshold` to zero (a fresh leaf, as after an
    /// optimiser step).
    pub fn threshold_skeletons(&mut self, threshold: f32) {
        for &s in self.skeletons.iter().flatten() {
            let values = self.params[s].clone().inner();
            let keep = values.clone().abs().greater_elem(threshold).float();
            self.params[s] = (values * keep).autodiff().require_grad();
        }
    }

    /// Folds each skeleton into its conv's weight in `graph` (the graph this network was
    /// compiled from) and masks the stripes whose factor is zero.
    pub(crate) fn fold_skeletons(&self, graph: &mut Graph) {
        for (node, s) in graph.nodes.iter_mut().zip(&self.skeletons) {
            let (Op::Conv2d(c), Some(s)) = (&mut node.op, s) else {
                continue;
            };
            let factors = crate::host_values(self.params[*s].clone());
            let area = c.weight.shape[2] * c.weight.shape[3];
            let per_filter = c.weight.row_len();
            let position = |i: usize| (i / per_filter) * area + i % area;
            for (i, v) in c.weight.data.iter_mut().enumerate() {
                *v *= factors[position(i)];
            }
            let keep: Vec<bool> = (0..c.weight.len())
                .map(|i| factors[position(i)] != 0.0)
                .collect();
            c.weight.restrict(&keep);
        }
    }
}
