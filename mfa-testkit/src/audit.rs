//! An audit sink that keeps every record, for assertions after a login.

use std::sync::{Arc, Mutex, MutexGuard};

use mfa_core::audit::{AuditRecord, AuditSink};

/// Clones share one list: give the engine a clone, assert on the original.
#[derive(Debug, Default, Clone)]
pub struct Capture(pub Arc<Mutex<Vec<AuditRecord>>>);

impl AuditSink for Capture {
    fn record(&self, r: &AuditRecord) {
        self.records().push(r.clone());
    }
}

impl Capture {
    /// The records so far. A poisoned lock (another test thread panicked)
    /// is recovered so this test reports its own failure.
    pub fn records(&self) -> MutexGuard<'_, Vec<AuditRecord>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The one record written; fails the test unless there is exactly one.
    pub fn only(&self) -> AuditRecord {
        let v = self.records();
        assert_eq!(v.len(), 1, "exactly one audit record: {v:?}");
        v[0].clone()
    }

    /// The latest record; panics (fails the test) when there is none.
    pub fn last(&self) -> AuditRecord {
        match self.records().last() {
            Some(r) => r.clone(),
            None => panic!("no audit record was written"),
        }
    }
}
