//! From config and enrolment to one decision.

mod engine;
mod plan;

pub use engine::{Decision, Engine};
pub use plan::{plan, Plan};
