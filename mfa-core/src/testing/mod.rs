//! Test harness (cargo feature `testing`): the scripted conversation and,
//! as factors land, the provider simulators.

mod scripted;

pub use scripted::{ScriptedConversation, Step};
