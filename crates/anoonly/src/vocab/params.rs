//! Hyperparameter checks: a named [`ParamError`] and the range checks every method's
//! `validate` is built from, so a bad value is refused with its field name before any work.

use std::borrow::Cow;

/// An invalid parameter, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid parameter `{field}` = {value}: {reason}")]
pub struct ParamError {
    /// The field's name: a fixed name for the checks, the name a front end gave for a
    /// hyperparameter set by name ([`crate::methods::MethodParams::set_value`]).
    pub field: Cow<'static, str>,
    pub value: String,
    pub reason: String,
}

impl ParamError {
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        value: impl ToString,
        reason: impl Into<String>,
    ) -> Self {
        ParamError {
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}

/// Checks that a hyperparameter is a finite number > 0.
pub fn positive(field: &'static str, v: f32) -> Result<(), ParamError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ParamError::new(field, v, "must be a finite number > 0"))
    }
}

/// Checks that a hyperparameter is a finite number >= 0.
pub fn non_negative(field: &'static str, v: f32) -> Result<(), ParamError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(ParamError::new(field, v, "must be a finite number >= 0"))
    }
}

/// Checks a list of hidden-layer widths: at least one layer, every width above 0 (the one
/// rule of every method with a `hidden` list, and its one message).
pub fn hidden_widths(field: &'static str, widths: &[usize]) -> Result<(), ParamError> {
    if widths.is_empty() || widths.contains(&0) {
        return Err(ParamError::new(
            field,
            format!("{widths:?}"),
            "needs at least one layer, all widths > 0",
        ));
    }
    Ok(())
}

/// Checks that a count hyperparameter (epochs, widths, batch sizes) lies in `lo..=hi`.
pub fn count_in(field: &'static str, v: usize, lo: usize, hi: usize) -> Result<(), ParamError> {
    if (lo..=hi).contains(&v) {
        Ok(())
    } else {
        let reason = if hi == usize::MAX {
            format!("must be at least {lo}")
        } else {
            format!("must be in {lo}..={hi}")
        };
        Err(ParamError::new(field, v, reason))
    }
}
