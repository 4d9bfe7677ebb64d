//! Helpers for the command's integration tests: the core crate's test helpers, plus
//! running the `anoonly` binary built for these tests.
#![allow(dead_code)]

#[path = "../../../anoonly/tests/common/mod.rs"]
mod core_common;
pub use core_common::*;

/// Runs the `anoonly` binary built for these tests with `args`.
pub fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_anoonly"))
        .args(args)
        .output()
        .expect("run anoonly")
}
