//! Client id and secret: inline from `[phonecheck]` or from tru.ID's
//! `tru.json`. The secret is wiped on drop and never printed.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::TruIdError;
use crate::config::{read_secret_file, PhoneCheckConfig};

/// Client id and secret. The secret is wiped on drop and never printed.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub client_id: String,
    pub(super) client_secret: SecretString,
}

#[derive(Deserialize)]
struct TruJson {
    credentials: Vec<TruJsonCredential>,
}

#[derive(Deserialize)]
struct TruJsonCredential {
    client_id: String,
    client_secret: SecretString,
}

impl Credentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    /// Read tru.ID's `tru.json` (`{"credentials":[{"client_id", "client_secret", ...}], ...}`,
    /// as written by `tru projects:create`). The file must be root-owned,
    /// not writable by others and not readable by others: it holds the
    /// secret the tutorial left world-readable.
    pub fn from_tru_json(path: &Path) -> Result<Self, TruIdError> {
        let text = read_secret_file(path).map_err(|e| TruIdError::Config(e.to_string()))?;
        let parsed: TruJson = serde_json::from_str(&text).map_err(|e| {
            // serde's message names the line and column, never the value.
            TruIdError::Config(format!(
                "{}: not a tru.json credentials file (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        let first = parsed.credentials.into_iter().next().ok_or_else(|| {
            TruIdError::Config(format!("{}: \"credentials\" is empty", path.display()))
        })?;
        if first.client_id.is_empty() || first.client_secret.expose_secret().is_empty() {
            return Err(TruIdError::Config(format!(
                "{}: client_id or client_secret is empty",
                path.display()
            )));
        }
        Ok(Self {
            client_id: first.client_id,
            client_secret: first.client_secret,
        })
    }

    /// From `[phonecheck]`: inline keys or `credentials_file`.
    pub fn from_config(cfg: &PhoneCheckConfig) -> Result<Self, TruIdError> {
        match (&cfg.client_id, &cfg.client_secret, &cfg.credentials_file) {
            (Some(id), Some(secret), None) => Ok(Self {
                client_id: id.clone(),
                client_secret: secret.clone(),
            }),
            (_, _, Some(path)) => Self::from_tru_json(path),
            _ => Err(TruIdError::Config(
                "set either client_id and client_secret, or credentials_file".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/truid")
            .join(name);
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn tru_json_is_read_and_its_secret_kept_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tru.json");
        std::fs::write(&p, fixture("tru.json")).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let c = Credentials::from_tru_json(&p).unwrap();
        assert_eq!(c.client_id, "fixture-client-id");
        assert_eq!(c.client_secret.expose_secret(), "fixture-client-secret");
        assert!(!format!("{c:?}").contains("fixture-client-secret"));

        // World-readable: the tutorial's mistake, refused.
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let e = Credentials::from_tru_json(&p).unwrap_err();
        assert!(e.to_string().contains("o-rwx"), "{e}");

        // Not tru.json: the error names the place, not the content.
        std::fs::write(&p, "{\"credentials\": \"fixture-secret-x\"}").unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let e = Credentials::from_tru_json(&p).unwrap_err().to_string();
        assert!(
            e.contains("not a tru.json") && !e.contains("fixture-secret-x"),
            "{e}"
        );
        // Nor is a malformed secret.
        std::fs::write(
            &p,
            "{\"credentials\": [{\"client_id\": \"i\", \"client_secret\": 98765432109876}]}",
        )
        .unwrap();
        let e = Credentials::from_tru_json(&p).unwrap_err().to_string();
        assert!(!e.contains("98765432109876"), "{e}");
        std::fs::write(&p, "{\"credentials\": []}").unwrap();
        assert!(Credentials::from_tru_json(&p)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
