//! What the PAM module decides, kept out of the PAM glue so it is tested
//! without libpam: module arguments ([`args`]), the pass options of
//! pam_google_authenticator ([`pass`]) and the whole authentication with
//! its PAM result ([`flow`]). `mfa-pam` only turns the PAM handle into
//! these types and back.

pub mod args;
pub mod entry;
pub mod flow;
pub mod pass;

pub use args::{PamArgs, PamArgsError, PassMode};
pub use entry::authenticate_pam;
pub use flow::authenticate;
