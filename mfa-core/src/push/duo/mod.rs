//! Duo Auth API v2: request signing, the client, its payloads and dates.
//! The push factor (`super`) drives it; the simulator
//! (`mfa_sim::duo`, a separate crate) checks what it sends.

pub mod client;
pub mod date;
pub mod error;
pub mod sign;
pub mod types;

pub use client::{AuthRequest, DuoClient, DuoSettings, PreauthRequest, Stamp};
pub use error::DuoError;
pub use types::{AuthFactor, AuthResult, AuthStart, AuthStatus, Device, Preauth, PreauthResult};
