//! The file backend: each user's google_authenticator file on this host
//! (today's behaviour and the default). Everything here is synchronous,
//! so a login on the lean runner finishes in one poll.

use async_trait::async_trait;

use super::{Checked, StateBackend, StateRef, UserState};
use crate::context::Clock;
use crate::factor::FactorError;
use crate::fsid;
use crate::totp::grace;
use crate::totp::store::{self, Opened, StoreError};
use crate::totp::verify::verify;

#[derive(Debug, Clone, Copy, Default)]
pub struct FileBackend;

/// Run synchronous state-file access `f` as `id`. The guard never lives
/// across an `.await` (setfsuid is per thread).
pub(crate) fn as_identity<R>(
    id: (u32, u32),
    f: impl FnOnce() -> Result<R, StoreError>,
) -> Result<R, FactorError> {
    fsid::with_identity(id.0, id.1, f)
        .map_err(|e| FactorError::State(e.to_string()))?
        .map_err(|e| FactorError::State(e.to_string()))
}

#[async_trait]
impl StateBackend for FileBackend {
    fn enrols_at_login(&self) -> bool {
        true
    }

    async fn open(&self, at: &StateRef) -> Result<Option<Box<dyn UserState>>, FactorError> {
        // One open, checked before anything is asked (a broken file is an
        // administrator's problem, not a reason to collect a code), kept
        // open for the update.
        let opened = as_identity(at.identity, || store::open(&at.path, &at.policy))?;
        Ok(opened.map(|opened| {
            Box::new(FileUser {
                opened,
                at: at.clone(),
            }) as Box<dyn UserState>
        }))
    }
}

struct FileUser {
    opened: Opened,
    at: StateRef,
}

#[async_trait]
impl UserState for FileUser {
    async fn within_grace(
        &mut self,
        address: &str,
        now: u64,
        period: u64,
    ) -> Result<bool, FactorError> {
        Ok(grace::within(&self.opened.state, address, now, period))
    }

    async fn verify(
        self: Box<Self>,
        code: &str,
        clock: &dyn Clock,
        grace: Option<&str>,
    ) -> Result<Checked, FactorError> {
        let FileUser { opened, at } = *self;
        let opts = at.opts;
        // A verification that changes nothing (no reuse ban, no rate limit,
        // no skew learned, no counter, no grace record) needs neither the
        // lock nor a write, as in pam_google_authenticator: its answer does
        // not depend on any concurrent login. Anything that changes the
        // state is decided again under the lock, on the file as it is then.
        let mut snapshot = opened.state.clone();
        // The time of the answer, not of the prompt: a person may take
        // seconds to type.
        let first = verify(&mut snapshot, code, clock.now_unix(), opts);
        drop(snapshot);
        if !first.changed && grace.is_none() {
            return Ok(first.result);
        }
        as_identity(at.identity, || {
            store::update_opened(opened, &at.path, &at.policy, |state| {
                // Read the clock under the lock: every record already in
                // the file was written before this instant, so none is
                // dropped as lying in the future.
                let now = clock.now_unix();
                let v = verify(state, code, now, opts);
                let mut changed = v.changed;
                if let (Ok(_), Some(address)) = (&v.result, grace) {
                    grace::record(state, address, now);
                    changed = true;
                }
                (v.result, changed)
            })
        })
    }
}
