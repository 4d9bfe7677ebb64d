//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared/data/adbench` beside the crate, or `None` with a loud notice.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/adbench");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED {test}: {} not found (this test needs ../shared)",
            p.display()
        );
        None
    }
}
