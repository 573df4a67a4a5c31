//! Provider clients (tru.ID, Duo, webhooks), kept apart from the factors
//! that use them: the factor logic is tested with a scripted conversation
//! and a simulator, the clients with recorded payloads.

pub mod duo;
pub mod http;
pub mod truid;
pub mod webhook;
