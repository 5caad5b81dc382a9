//! Learning-rate schedules, evaluated per iteration.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// How the learning rate moves over a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub enum LrSchedule {
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        every: usize,
        gamma: f64,
    },
    /// Cosine annealing from the base rate to 0 over the run.
    #[default]
    Cosine,
    /// PyTorch's `OneCycleLR` defaults: warm up from `lr/25` to `lr` over the first 30% of the
    /// run, then cosine down to `lr/25e4`. Momentum is not cycled.
    OneCycle,
}

impl LrSchedule {
    /// Learning rate at iteration `iter` of `total`, with `iters_per_epoch` iterations per epoch.
    pub fn lr(&self, base: f64, iter: usize, total: usize, iters_per_epoch: usize) -> f64 {
        let progress = iter as f64 / total.max(1) as f64;
        let cosine = |from: f64, to: f64, t: f64| to + (from - to) * 0.5 * (1.0 + (PI * t).cos());
        match self {
            Self::Constant => base,
            Self::Step { every, gamma } => {
                base * gamma.powi((iter / iters_per_epoch.max(1) / every.max(&1)) as i32)
            }
            Self::Cosine => cosine(base, 0.0, progress),
            Self::OneCycle => {
                // torch.optim.lr_scheduler.OneCycleLR (cos anneal, pct_start 0.3): the peak is
                // at step 0.3 * total - 1 and the floor at the last step, total - 1.
                let (start, end) = (base / 25.0, base / 25.0 / 1e4);
                let peak = (0.3 * total as f64 - 1.0).max(1.0);
                let last = (total as f64 - 1.0).max(peak + 1.0);
                let step = iter as f64;
                if step <= peak {
                    cosine(start, base, step / peak)
                } else {
                    cosine(base, end, ((step - peak) / (last - peak)).min(1.0))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_starts_at_base_and_ends_at_zero() {
        let s = LrSchedule::Cosine;
        assert!((s.lr(0.1, 0, 100, 10) - 0.1).abs() < 1e-12);
        assert!((s.lr(0.1, 50, 100, 10) - 0.05).abs() < 1e-12);
        assert!(s.lr(0.1, 100, 100, 10).abs() < 1e-12);
    }

    #[test]
    fn step_decays_every_n_epochs() {
        let s = LrSchedule::Step {
            every: 2,
            gamma: 0.1,
        };
        assert_eq!(s.lr(1.0, 19, 100, 10), 1.0);
        assert!((s.lr(1.0, 20, 100, 10) - 0.1).abs() < 1e-12);
        assert!((s.lr(1.0, 45, 100, 10) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn one_cycle_matches_pytorch_step_positions() {
        // OneCycleLR(max_lr=1, total_steps=100, cycle_momentum=False) in PyTorch 2.9:
        // lr 0.04 at step 0, 1.0 at 29, 0.7938934505757 at 50, 4e-6 at 99.
        let s = LrSchedule::OneCycle;
        assert!((s.lr(1.0, 0, 100, 10) - 0.04).abs() < 1e-9);
        assert!((s.lr(1.0, 29, 100, 10) - 1.0).abs() < 1e-9);
        assert!((s.lr(1.0, 50, 100, 10) - 0.793_893_450_6).abs() < 1e-9);
        assert!((s.lr(1.0, 99, 100, 10) - 4e-6).abs() < 1e-12);
    }
}
