//! Test harness (cargo feature `testing`): the scripted conversation and the
//! provider simulators, which share the plumbing in [`sim`].

mod scripted;
pub mod sim;

pub use scripted::{ScriptedConversation, Step};
