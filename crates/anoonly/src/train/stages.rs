//! The stages of a fit, as each method declares them ([`crate::methods::Method::STAGES`]),
//! and what a fit is given besides its data ([`FitContext`]).
//!
//! A stage that reads no label (FEAWAD's autoencoder pretraining) computes the same result
//! for every fit with the same unlabeled rows and the same settings of that stage, whatever
//! the labeled anomalies, the AnoOnly switch, `lambda_n` or the head's normalisation: a
//! grid computes it once and shares it ([`crate::train::shared`]). Everything about that
//! sharing follows from the declaration: the stage's cache key holds exactly the
//! hyperparameters it declares, read by name from the serialised parameters
//! ([`StageKeyBuilder`]), and the training parameters it trains with
//! ([`TrainParams::for_stage`]); `bench` groups, orders and shards its cells and scales
//! budgets from it without naming any method. A declared name that is not a field of the
//! method's parameters gets no key (the stage is then computed in every fit), and the
//! conformance tests refuse it.

use std::ops::{Deref, DerefMut};

use serde::Serialize;

use super::shared::{KeyBuilder, StageCache, StageId, StageKey};
use super::{FitObserver, TrainParams};

/// One stage of a method's fit, as the method declares it (a `const`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StageSpec {
    /// Short name, unique within the method (`pretrain`): in cache keys and run summaries.
    pub name: &'static str,
    /// What the stage computes, for messages and reports (`autoencoder pretraining`).
    pub description: &'static str,
    /// Whether the stage reads labels. A label-free stage reads the unlabeled rows only:
    /// in the clean setting they are the train normals, the same whatever gamma_la; in the
    /// noisy setting they hold the unlabeled anomalies, which depend on it. Only label-free
    /// stages are shared between fits. The AnoOnly switch, `lambda_n` and `norm` act on
    /// labeled stages only: a label-free stage trains with a fixed weighting
    /// ([`TrainParams::for_stage`]).
    pub reads_labels: bool,
    /// The hyperparameters the stage reads, by serde field name. A parameter several stages
    /// read is listed by each (FEAWAD's `lr` and `batch_size`): a label-free stage's key
    /// holds every one it lists, so an override of any of them is another key, and `bench`
    /// keeps such cells apart.
    pub params: &'static [&'static str],
    /// The hyperparameter counting the stage's epochs, which a training budget scales
    /// (`bench`'s `budget` switch); `None` for a stage trained in the method's `epochs`
    /// (the `--epochs` knob, which the budget scales as such) or not in epochs.
    pub epochs_param: Option<&'static str>,
    /// The stage's share of a default fit's cost (a method's fractions sum to 1). For
    /// ordering `bench`'s queue only: no result depends on it.
    pub cost_fraction: f64,
}

impl StageSpec {
    /// Whether fits may share the stage's result: it reads no label.
    pub const fn is_label_free(&self) -> bool {
        !self.reads_labels
    }

    /// Whether the stage reads the hyperparameter `name`.
    pub fn reads_param(&self, name: &str) -> bool {
        self.params.contains(&name)
    }
}

/// The label-free stages of a declaration: those fits may share.
pub fn label_free(stages: &'static [StageSpec]) -> impl Iterator<Item = &'static StageSpec> {
    stages.iter().filter(|s| s.is_label_free())
}

/// What is left of a fit whose label-free stages another fit computed: the summed
/// [`StageSpec::cost_fraction`] of its labeled stages (1 for a method without a
/// declaration). For ordering work only.
pub fn unshared_fraction(stages: &[StageSpec]) -> f64 {
    if stages.is_empty() {
        return 1.0;
    }
    stages
        .iter()
        .filter(|s| s.reads_labels)
        .map(|s| s.cost_fraction)
        .sum()
}

impl TrainParams {
    /// The training parameters `stage` trains with: the fit's, except that a label-free
    /// stage is not the SSAD loss, so it gets a fixed weighting whatever the AnoOnly switch
    /// says (`anoonly = false`, `lambda_n = 1`, no `norm` override; the seed and the rest
    /// are the fit's). The authors pretrain identically in both variants.
    pub fn for_stage(&self, stage: &StageSpec) -> TrainParams {
        if stage.reads_labels {
            return self.clone();
        }
        TrainParams {
            anoonly: false,
            lambda_n: Some(1.0),
            norm: None,
            ..self.clone()
        }
    }
}

/// A declared stage parameter that the method's parameters do not have (a field renamed
/// without its declaration): the stage gets no key and is computed in every fit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{method}'s stage `{stage}` declares the parameter `{param}`, which its parameters do not have"
)]
pub struct UndeclaredParam {
    pub method: &'static str,
    pub stage: &'static str,
    pub param: &'static str,
}

/// Builds the [`StageKey`] of a label-free stage from its declaration: the method and
/// stage names, each declared hyperparameter by name with its value as serde writes it,
/// and the stage's training parameters ([`TrainParams::for_stage`]). The method then adds
/// what else the stage reads through the [`KeyBuilder`] this derefs to (its rows in the
/// order its sampler sees them, initial weights, a fingerprint of the arithmetic) and
/// calls [`StageKeyBuilder::finish`]. The code's identity is in every key
/// ([`KeyBuilder::new`]).
pub struct StageKeyBuilder {
    id: StageId,
    key: KeyBuilder,
}

impl StageKeyBuilder {
    pub fn new(
        method: &'static str,
        stage: &'static StageSpec,
        params: &impl Serialize,
        train: &TrainParams,
    ) -> Result<StageKeyBuilder, UndeclaredParam> {
        let undeclared = |param| UndeclaredParam {
            method,
            stage: stage.name,
            param,
        };
        let fields = serde_json::to_value(params).ok();
        let id = StageId {
            method,
            stage: stage.name,
        };
        let mut key = KeyBuilder::new(&format!("{method}/{}", stage.name));
        for &name in stage.params {
            let value = fields
                .as_ref()
                .and_then(|f| f.get(name))
                .ok_or_else(|| undeclared(name))?;
            let text = serde_json::to_string(value).map_err(|_| undeclared(name))?;
            key.bytes(&format!("param.{name}"), text.as_bytes());
        }
        let train = serde_json::to_string(&train.for_stage(stage)).unwrap_or_default();
        key.bytes("train_params", train.as_bytes());
        Ok(StageKeyBuilder { id, key })
    }

    pub fn finish(&self) -> StageKey {
        StageKey {
            id: self.id,
            hash: self.key.finish(),
        }
    }
}

impl Deref for StageKeyBuilder {
    type Target = KeyBuilder;
    fn deref(&self) -> &KeyBuilder {
        &self.key
    }
}

impl DerefMut for StageKeyBuilder {
    fn deref_mut(&mut self) -> &mut KeyBuilder {
        &mut self.key
    }
}

/// What a fit is given besides its parameters and data: the observer that sees every epoch
/// (and may stop the fit), and a store of label-free stages shared between fits, where the
/// method looks each of its label-free stages up by its key ([`StageKeyBuilder`]) before
/// computing it, and leaves what it computed. With or without the store, the model is the
/// same, bit for bit; a stage taken from the store reports no epochs to the observer.
pub struct FitContext<'a> {
    pub observer: &'a mut dyn FitObserver,
    pub stages: Option<&'a dyn StageCache>,
}

impl<'a> FitContext<'a> {
    /// A fit watched by `observer`, sharing nothing.
    pub fn new(observer: &'a mut dyn FitObserver) -> Self {
        FitContext {
            observer,
            stages: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Toy {
        width: usize,
        lr: f32,
        head: usize,
    }

    const STAGE: StageSpec = StageSpec {
        name: "stage1",
        description: "toy stage",
        reads_labels: false,
        params: &["width", "lr"],
        epochs_param: None,
        cost_fraction: 0.5,
    };

    fn key(p: &Toy, train: &TrainParams) -> StageKey {
        StageKeyBuilder::new("toy", &STAGE, p, train)
            .unwrap()
            .finish()
    }

    #[test]
    fn a_stage_key_holds_its_declared_params_and_nothing_the_stage_does_not_read() {
        let p = Toy {
            width: 4,
            lr: 0.1,
            head: 3,
        };
        let train = TrainParams::default();
        let base = key(&p, &train);
        assert_eq!(base.id.stage, "stage1");
        // Undeclared parameter, the AnoOnly switch, lambda_n and norm: the same key.
        assert_eq!(base, key(&Toy { head: 9, ..p }, &train));
        let ao = TrainParams {
            anoonly: true,
            lambda_n: Some(0.0),
            norm: Some(crate::vocab::NormKind::Bn),
            ..TrainParams::default()
        };
        assert_eq!(base, key(&p, &ao));
        // Declared parameters and the seed: another key.
        assert_ne!(base, key(&Toy { width: 5, ..p }, &train));
        assert_ne!(base, key(&Toy { lr: 0.2, ..p }, &train));
        let seeded = TrainParams {
            seed: 1,
            ..TrainParams::default()
        };
        assert_ne!(base, key(&p, &seeded));
        // The method's material is part of it.
        let mut k = StageKeyBuilder::new("toy", &STAGE, &p, &train).unwrap();
        k.u64("rows", 7);
        assert_ne!(base, k.finish());
        // Another method or stage name: another key.
        let other = StageKeyBuilder::new("toy2", &STAGE, &p, &train).unwrap();
        assert_ne!(base.hash, other.finish().hash);
    }

    #[test]
    fn a_declared_name_the_params_do_not_have_gets_no_key() {
        const RENAMED: StageSpec = StageSpec {
            params: &["width", "learning_rate"],
            ..STAGE
        };
        let p = Toy {
            width: 4,
            lr: 0.1,
            head: 3,
        };
        let e = StageKeyBuilder::new("toy", &RENAMED, &p, &TrainParams::default())
            .err()
            .unwrap();
        assert_eq!(e.param, "learning_rate");
        assert!(e.to_string().contains("`learning_rate`"), "{e}");
    }

    #[test]
    fn the_unshared_fraction_is_the_labeled_stages_cost() {
        let scoring = StageSpec {
            name: "scoring",
            reads_labels: true,
            cost_fraction: 0.3,
            ..STAGE
        };
        let pre = StageSpec {
            cost_fraction: 0.7,
            ..STAGE
        };
        assert_eq!(unshared_fraction(&[pre, scoring]), 0.3);
        assert_eq!(unshared_fraction(&[]), 1.0);
    }
}
