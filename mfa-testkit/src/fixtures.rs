//! The repository's `fixtures/` directory (recorded provider payloads,
//! signing vectors), wherever the test runs from.

use std::path::PathBuf;

/// `fixtures/<rel>` in this checkout.
pub fn path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

/// The text of `fixtures/<rel>`; panics (fails the test) when unreadable.
pub fn read(rel: &str) -> String {
    let p = path(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
