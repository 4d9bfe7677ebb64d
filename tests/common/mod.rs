//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// Prints a SKIPPED line straight to the process's stderr. libtest captures only the
/// `print!`/`eprint!` macros, so this line shows in a plain `cargo test` run: a skip is
/// never silent.
pub fn skip(message: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED {message}");
}

/// `../shared/data/adbench` beside the crate, or `None` after a loud SKIPPED line.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/adbench");
    if p.is_dir() {
        Some(p)
    } else {
        skip(&format!(
            "{test}: {} not found (this test needs ../shared)",
            p.display()
        ));
        None
    }
}
