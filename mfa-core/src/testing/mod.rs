//! Test harness (cargo feature `testing`): the scripted conversation and the
//! provider simulators, which share the plumbing in [`sim`]; and
//! [`sshd`], a real OpenSSH server on loopback for end-to-end tests.

pub mod duo;
mod scripted;
pub mod sim;
pub mod sshd;
pub mod truid;
pub mod webhook_sink;

pub use scripted::{ScriptedConversation, Step};
