//! How much of the target each step of an iterative schedule reaches: a linear ramp, or the
//! cubic ramp of Zhu & Gupta's automated gradual pruning (AGP), which prunes hard early, while
//! redundancy is high, and gently near the end.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ramp {
    #[default]
    Linear,
    Agp,
}

impl Ramp {
    /// The fraction of the final target reached after step `step` of `steps` (1-based);
    /// 1 at the last step.
    pub fn fraction(self, step: usize, steps: usize) -> f64 {
        let t = (step as f64 / steps.max(1) as f64).clamp(0.0, 1.0);
        match self {
            Ramp::Linear => t,
            Ramp::Agp => 1.0 - (1.0 - t).powi(3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Ramp;

    #[test]
    fn ramps_end_at_the_target_and_agp_front_loads() {
        for ramp in [Ramp::Linear, Ramp::Agp] {
            assert_eq!(ramp.fraction(4, 4), 1.0);
            assert_eq!(ramp.fraction(0, 4), 0.0);
        }
        assert_eq!(Ramp::Linear.fraction(1, 4), 0.25);
        assert!((Ramp::Agp.fraction(1, 4) - (1.0 - 0.75f64.powi(3))).abs() < 1e-12);
        assert!(Ramp::Agp.fraction(1, 4) > Ramp::Linear.fraction(1, 4));
    }
}
