//! [`FitOptions`]: what a front end knows about a fit (the `eval`/`fit` flags, the Python
//! estimator's keyword arguments), turned into [`FitParams`] by one function, so the CLI
//! and the bindings apply the same options in the same order with the same checks.

use super::{FitParams, MethodKind};
use crate::preprocessing::Preprocessing;
use crate::train::{EmptyBatch, DEFAULT_BN_LOSS_WEIGHT};
use crate::vocab::{NormKind, ParamError};

/// A fit described by a front end's options. Every field but `method` is optional in
/// meaning: `None`, `false` and an empty `params` keep the authors' settings.
#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    pub method: MethodKind,
    /// AnoOnly: no loss on normal rows (lambda_n = 0) and a BatchNorm before the last layer.
    pub anoonly: bool,
    /// Weight of `L_N` (default 1, or 0 with `anoonly`).
    pub lambda_n: Option<f32>,
    /// The normalisation before the last layer (default: the method's own, or AnoOnly's).
    pub norm: Option<NormKind>,
    /// Weight of `L_BN` with [`NormKind::BnLoss`].
    pub bn_loss_weight: f32,
    /// Epochs (an error for a method that does not train in epochs). A `params` entry
    /// named `epochs` wins over it (see [`FitOptions::build`]).
    pub epochs: Option<usize>,
    /// Training batch size (an error for a method without batches). A `params` entry
    /// naming the method's batch-size field wins over it.
    pub batch_size: Option<usize>,
    /// Skip the optimiser step on batches without loss (default: step, as the authors).
    pub skip_empty_batches: bool,
    pub seed: u64,
    /// The scaling the model learns from its training rows (default none).
    pub preprocessing: Preprocessing,
    /// Method hyperparameters by field name (`--set NAME=VALUE`, a grid's `set`, Python's
    /// keywords), applied in order after `epochs` and `batch_size`, so an entry of the same
    /// name wins over them.
    pub params: Vec<(String, serde_json::Value)>,
}

impl FitOptions {
    /// The authors' settings for `method`: vanilla, seed 0.
    pub fn new(method: MethodKind) -> Self {
        FitOptions {
            method,
            anoonly: false,
            lambda_n: None,
            norm: None,
            bn_loss_weight: DEFAULT_BN_LOSS_WEIGHT,
            epochs: None,
            batch_size: None,
            skip_empty_batches: false,
            seed: 0,
            preprocessing: Preprocessing::None,
            params: Vec::new(),
        }
    }

    /// The validated [`FitParams`] of these options.
    ///
    /// Precedence, the same for every front end (`eval`, `fit`, `bench`, Python): the
    /// method's defaults, then the typed knobs `epochs` and `batch_size`, then `params` in
    /// order. A `params` entry names the field exactly, so it is the more specific and
    /// wins: `eval --epochs 5 --set epochs=7` trains 7 epochs, as `bench --epochs 5
    /// --set deepsad:epochs=7` does.
    ///
    /// ```
    /// use anoonly::methods::{FitOptions, MethodKind};
    /// let mut o = FitOptions::new(MethodKind::DeepSad);
    /// o.anoonly = true;
    /// o.epochs = Some(5);
    /// o.params.push(("lr".into(), serde_json::json!(0.001)));
    /// let p = o.build()?;
    /// assert_eq!(p.train.lambda_n(), 0.0);
    /// assert_eq!((p.method.epochs(), p.method.batch_size()), (Some(5), Some(128)));
    /// // `--set epochs=7` beside `--epochs 5`: the named field wins.
    /// o.params.push(("epochs".into(), serde_json::json!(7)));
    /// assert_eq!(o.build()?.method.epochs(), Some(7));
    /// // A name the method does not have is refused with the names it has.
    /// o.params.push(("learning_rate".into(), serde_json::json!(0.1)));
    /// let e = o.build().unwrap_err().to_string();
    /// assert!(e.contains("has no parameter `learning_rate`") && e.contains("rep_dim"), "{e}");
    /// # Ok::<(), anoonly::vocab::ParamError>(())
    /// ```
    pub fn build(&self) -> Result<FitParams, ParamError> {
        let p = self.unchecked()?;
        p.validate()?;
        Ok(p)
    }

    /// [`FitOptions::build`] without the final range check, for a caller that changes the
    /// parameters further and validates them itself (bench's ablation overrides).
    pub fn unchecked(&self) -> Result<FitParams, ParamError> {
        let mut p = FitParams::new(self.method)
            .anoonly(self.anoonly)
            .seed(self.seed);
        p.train.lambda_n = self.lambda_n;
        p.train.norm = self.norm;
        p.train.bn_loss_weight = self.bn_loss_weight;
        p.preprocessing = self.preprocessing;
        if self.skip_empty_batches {
            p.train.empty_batch = EmptyBatch::Skip;
        }
        if let Some(e) = self.epochs {
            p.method.set_epochs(e)?;
        }
        if let Some(b) = self.batch_size {
            p.method.set_batch_size(b)?;
        }
        for (name, value) in &self.params {
            p.method.set_value(name, value.clone())?;
        }
        Ok(p)
    }
}

/// Splits a `NAME=VALUE` assignment (`--set`, a grid's `set`, an ablation written as one
/// string) into the name and its value ([`parse_value`]), both trimmed: the one parser of
/// such text for every front end.
///
/// ```
/// use anoonly::methods::parse_assignment;
/// let (name, value) = parse_assignment("hidden = [64,16]")?;
/// assert_eq!((name.as_str(), value), ("hidden", serde_json::json!([64, 16])));
/// assert!(parse_assignment("lr").unwrap_err().to_string().contains("expected NAME=VALUE"));
/// # Ok::<(), anoonly::vocab::ParamError>(())
/// ```
pub fn parse_assignment(text: &str) -> Result<(String, serde_json::Value), ParamError> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), parse_value(value.trim())))
        }
        _ => Err(ParamError::new(
            "set",
            text,
            "expected NAME=VALUE for a method parameter",
        )),
    }
}

/// A hyperparameter value given as text (`--set NAME=VALUE`, a grid's `set` and
/// ablations): JSON when it parses as JSON (`0.001`, `[64, 16]`, `true`), else the text as
/// a string (bare words for enum fields: `paper`, `official`).
pub fn parse_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// A hyperparameter value as text, the inverse of [`parse_value`] for the values methods
/// take: a string bare (`official`), anything else as JSON (`0.001`, `[64,16]`).
pub fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}
