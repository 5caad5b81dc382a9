//! How much to remove and where: targets, the ramp of an iterative schedule, and the planner
//! that turns scores into channel cuts, locally or globally, within per-layer limits.

mod pattern;
mod planner;
mod ramp;
mod target;

pub use pattern::matches;
pub use planner::{Cut, OriginalChannels, PlanConfig, Scope, cuts_with_counts};
pub use ramp::Ramp;
pub use target::{PlanInput, StepPlan, Target, apply, latency, plan_for, relative_latency};
