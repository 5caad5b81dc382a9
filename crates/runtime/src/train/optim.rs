//! Optimisers over the network's flat parameters: SGD (momentum, Nesterov, weight decay) and
//! AdamW, with PyTorch's update rules so recipes carry over unchanged.

use crate::{Network, host_values};
use burn::tensor::{Device, Gradients, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Which optimiser, with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OptimizerKind {
    /// `torch.optim.SGD` semantics (momentum buffer starts at the first gradient).
    Sgd { momentum: f32, nesterov: bool },
    /// `torch.optim.AdamW` semantics (decoupled weight decay).
    AdamW { beta1: f32, beta2: f32, eps: f32 },
}

impl Default for OptimizerKind {
    fn default() -> Self {
        Self::Sgd {
            momentum: 0.9,
            nesterov: true,
        }
    }
}

/// An optimiser and its per-parameter state.
pub struct Optimizer {
    kind: OptimizerKind,
    weight_decay: f32,
    l1_decay: f32,
    steps: u64,
    /// Momentum buffer (SGD) or first moment (AdamW), per parameter.
    first: Vec<Option<Tensor<1>>>,
    /// Second moment (AdamW), per parameter.
    second: Vec<Option<Tensor<1>>>,
}

/// The optimiser's state as plain arrays, for checkpoints.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OptimizerState {
    pub steps: u64,
    pub first: Vec<Option<Vec<f32>>>,
    pub second: Vec<Option<Vec<f32>>>,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, weight_decay: f32, params: usize) -> Self {
        Self {
            kind,
            weight_decay,
            l1_decay: 0.0,
            steps: 0,
            first: vec![None; params],
            second: vec![None; params],
        }
    }

    /// Adds an L1 penalty of `lambda` on every parameter: `lambda * sign(w)` joins its
    /// gradient.
    pub fn with_l1_decay(mut self, lambda: f32) -> Self {
        self.l1_decay = lambda;
        self
    }

    /// One update of every trainable parameter of `net` that has a gradient; returns the new
    /// parameter leaves.
    ///
    /// Masks ([`Network::masks`]) hold pruned weights at zero: their gradient is masked before
    /// the update, so weight decay, momentum and Adam's moments never move them, and the
    /// updated values are masked again. Frozen parameters ([`Network::frozen`]) stay as they
    /// are.
    pub fn step(&mut self, net: &Network, grads: &Gradients, lr: f64) -> Vec<Tensor<1>> {
        self.steps += 1;
        net.params()
            .iter()
            .zip(net.masks())
            .zip(net.frozen())
            .enumerate()
            .map(|(i, ((param, mask), frozen))| match param.grad(grads) {
                Some(_) if *frozen => param.clone(),
                Some(grad) => {
                    let p = param.clone().inner();
                    let grad = match self.l1_decay {
                        0.0 => grad,
                        l1 => grad + p.clone().sign() * l1 as f64,
                    };
                    let updated = match mask {
                        Some(m) => self.update(i, p, grad * m.clone(), lr) * m.clone(),
                        None => self.update(i, p, grad, lr),
                    };
                    updated.autodiff().require_grad()
                }
                None => param.clone(),
            })
            .collect()
    }

    fn update(&mut self, i: usize, p: Tensor<1>, g: Tensor<1>, lr: f64) -> Tensor<1> {
        let wd = self.weight_decay as f64;
        match self.kind {
            OptimizerKind::Sgd { momentum, nesterov } => {
                let g = if wd > 0.0 { g + p.clone() * wd } else { g };
                let g = if momentum > 0.0 {
                    let m = momentum as f64;
                    let buf = match self.first[i].take() {
                        Some(buf) => buf * m + g.clone(),
                        None => g.clone(),
                    };
                    self.first[i] = Some(buf.clone());
                    if nesterov { g + buf * m } else { buf }
                } else {
                    g
                };
                p - g * lr
            }
            OptimizerKind::AdamW { beta1, beta2, eps } => {
                let (b1, b2) = (beta1 as f64, beta2 as f64);
                let p = if wd > 0.0 { p * (1.0 - lr * wd) } else { p };
                let zeros = || Tensor::zeros(g.dims(), &g.device());
                let m = self.first[i].take().unwrap_or_else(zeros) * b1 + g.clone() * (1.0 - b1);
                let v =
                    self.second[i].take().unwrap_or_else(zeros) * b2 + g.clone() * g * (1.0 - b2);
                let t = self.steps as i32;
                let m_hat = m.clone() / (1.0 - b1.powi(t));
                let v_hat = v.clone() / (1.0 - b2.powi(t));
                self.first[i] = Some(m);
                self.second[i] = Some(v);
                p - m_hat / (v_hat.sqrt() + eps as f64) * lr
            }
        }
    }

    /// The state as plain arrays.
    pub fn state(&self) -> OptimizerState {
        let read = |slot: &Option<Tensor<1>>| slot.clone().map(host_values);
        OptimizerState {
            steps: self.steps,
            first: self.first.iter().map(read).collect(),
            second: self.second.iter().map(read).collect(),
        }
    }

    /// Restores a state saved by [`Optimizer::state`]; `device` is the non-autodiff device.
    pub fn load_state(&mut self, state: OptimizerState, device: &Device) {
        let make = |v: Option<Vec<f32>>| {
            v.map(|v| {
                let n = v.len();
                Tensor::from_data(TensorData::new(v, [n]), device)
            })
        };
        self.steps = state.steps;
        self.first = state.first.into_iter().map(make).collect();
        self.second = state.second.into_iter().map(make).collect();
    }
}
