//! The shared vocabulary at the bottom of the crate: what the numeric core, the methods, the
//! detectors, the booster, model files and front ends all speak, and nothing else depends
//! on to exist. It owns:
//! - [`params`]: [`ParamError`] and the hyperparameter checks every method's `validate` uses;
//! - [`norm`]: [`NormKind`], the `--norm` choice (the layer before the last layer);
//! - [`tensor`]: [`NamedTensor`] and [`StateError`], and the helpers that write and read
//!   the fitted state of layers, methods, detectors and trees (model files).
//!
//! It imports nothing from the rest of the crate.

pub mod norm;
pub mod params;
pub mod tensor;

pub use norm::NormKind;
pub use params::{count_in, hidden_widths, non_negative, positive, ParamError};
pub use tensor::{NamedTensor, StateError};
