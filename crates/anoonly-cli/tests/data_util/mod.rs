//! The core crate's data-file builders (NPY, NPZ, CSV bytes) for the command's tests.
#![allow(dead_code, unused_imports)]

#[path = "../../../anoonly/tests/data_util/mod.rs"]
mod core_data_util;
pub use core_data_util::*;
