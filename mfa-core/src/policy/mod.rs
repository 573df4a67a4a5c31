//! From config and enrolment to one decision.

mod engine;
mod enrol;
mod plan;

pub use engine::{Attempt, Bounded, Builder, Decision, Engine, Timer, Work};
pub use plan::{plan, Plan};
