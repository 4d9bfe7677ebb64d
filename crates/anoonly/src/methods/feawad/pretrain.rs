//! FEAWAD's stage 1 ([`PRETRAINING`]): the autoencoder alone on the unlabeled rows, and its
//! key in the store of shared stages, so that the fits that would compute the same
//! pretraining compute it once ([`crate::train::shared`]).

use ndarray::ArrayView2;
use rand::Rng as _;

use super::net::{AeResidual, Autoencoder};
use super::task::{FeawadTask, MseLoss, Sampler};
use super::{FeawadCompat, FeawadParams, FittedFeawad, PRETRAINING};
use crate::methods::Method;
use crate::nn::{pool, Adam, LrSchedule, Matrix, Mode, Module};
use crate::rng::component_rng;
use crate::train::shared::{KeyBuilder, StageCache, StageKey, StageOutput};
use crate::train::stages::{StageKeyBuilder, UndeclaredParam};
use crate::train::{
    self, Checkpoint, Interrupted, Observer, Schedule, ScheduleUnit, Stage, Staged, TrainParams,
    TrainReport,
};

/// The key of a pretraining ([`crate::train::shared`]): everything [`pretrain`] reads. From
/// the declaration of [`PRETRAINING`] ([`StageKeyBuilder`]): the method and stage, every
/// stage-1 hyperparameter it lists, and its training parameters (the seed of its sampler
/// among them; not the AnoOnly switch, `lambda_n` or `norm`); then what only FEAWAD knows:
/// the matrix kernel's results at its shapes on this CPU (`kernel_fingerprint`), the
/// initial weights (they are the architecture and the init stream) and the rows the
/// sampler draws from, in its order (the sampler sees positions into `unlabeled`). The
/// code (its version, sources, dependencies, compiler) is in every key
/// ([`crate::train::shared::KeyBuilder::new`]). Scoring-stage settings, the labeled
/// anomalies, the AnoOnly switch and the head's normalisation are not read by stage 1, so
/// cells differing only in them share the key. An error when the declaration names a
/// parameter FEAWAD does not have.
pub fn pretrain_key(
    params: &FeawadParams,
    train_params: &TrainParams,
    ae: &Autoencoder,
    x: ArrayView2<f32>,
    unlabeled: &[usize],
) -> Result<StageKey, UndeclaredParam> {
    let mut init = Vec::new();
    ae.state("", &mut init);
    let mut k = StageKeyBuilder::new(FittedFeawad::NAME, &PRETRAINING, params, train_params)?;
    k.bytes("kernel", &kernel_fingerprint(params, x.ncols()))
        .tensors("init", &init)
        .rows("x", x, unlabeled.iter().copied());
    Ok(k.finish())
}

/// What this CPU's matrix kernel computes at a pretraining step's shapes: a hash of one
/// train-mode forward and backward of a fixed autoencoder on a fixed batch (every product
/// shape of a step, as a step computes them). gemm picks its micro-kernel and its depth
/// blocks at run time from the CPU's instruction set and cache sizes (docs/determinism.md),
/// so two machines may round differently; their keys then differ. Computed once per shape
/// and process (about one step: 15 ms at 512 x 512).
fn kernel_fingerprint(params: &FeawadParams, d: usize) -> [u8; 32] {
    type Shape = (usize, usize, usize, usize);
    static MEMO: std::sync::Mutex<std::collections::BTreeMap<Shape, [u8; 32]>> =
        std::sync::Mutex::new(std::collections::BTreeMap::new());
    let shape = (params.batch_size, d, params.ae_hidden, params.code_dim);
    if let Some(f) = MEMO.lock().ok().and_then(|m| m.get(&shape).copied()) {
        return f;
    }
    let mut rng = component_rng(0, "kernel-fingerprint");
    let mut net = AeResidual(params.autoencoder(d, &mut rng));
    let x = Matrix::from_shape_simple_fn((params.batch_size, d), || rng.gen_range(0.0f32..1.0));
    net.zero_grad();
    let out = net.forward(&x, Mode::Train);
    net.backward(&out, false);
    let mut k = KeyBuilder::new("kernel-fingerprint");
    k.f32s("out", out.as_slice().unwrap_or(&[]));
    net.visit_params(&mut |p| {
        k.f32s(p.name, p.grad);
    });
    net.clear_cache();
    pool::recycle(out);
    let f = k.finish().0;
    if let Ok(mut m) = MEMO.lock() {
        m.insert(shape, f);
    }
    f
}

/// Stage 1 alone: pretrains `ae` on the unlabeled rows (exposed for tests). Its epochs
/// reach `observer` as [`Stage::Pretrain`], which may stop it like any training loop.
pub fn pretrain(
    params: &FeawadParams,
    train_params: &TrainParams,
    ae: Autoencoder,
    x: ArrayView2<f32>,
    unlabeled: &[usize],
    observer: Observer<'_>,
) -> Result<(Autoencoder, TrainReport), Interrupted> {
    let anomaly = vec![false; x.nrows()];
    let mut net = AeResidual(ae);
    if params.pretrain_epochs == 0 {
        return Ok((net.0, TrainReport::default()));
    }
    let mut task: FeawadTask<'_, AeResidual, MseLoss> = FeawadTask {
        x,
        anomaly,
        sampler: Sampler::new(
            unlabeled.to_vec(),
            Vec::new(),
            params.batch_size,
            params.steps_per_epoch,
            params.compat == FeawadCompat::Official,
        ),
        loss: MseLoss,
        _net: std::marker::PhantomData,
    };
    let fixed = train_params.for_stage(&PRETRAINING);
    let schedule = Schedule {
        epochs: params.pretrain_epochs,
        base_lr: params.lr,
        lr_schedule: LrSchedule::Constant,
        unit: ScheduleUnit::Batch,
        checkpoint: Checkpoint::BestTrainLoss,
    };
    let mut rng = component_rng(train_params.seed, "feawad-pretrain-sampler");
    let mut staged = Staged {
        stage: Stage::Pretrain,
        inner: observer,
    };
    let report = train::fit(
        &mut task,
        &mut net,
        &mut Adam::keras(),
        &schedule,
        &fixed,
        &mut rng,
        &mut staged,
    )
    .map_err(|i| Interrupted {
        stage: Stage::Pretrain,
        ..i
    })?;
    Ok((net.0, report))
}

/// Stage 1 through `cache`: the pretrained autoencoder of its [`pretrain_key`], computed by
/// [`pretrain`] from `ae` when the cache does not hold it, and its step count.
pub(super) fn shared_pretrain(
    cache: &dyn StageCache,
    params: &FeawadParams,
    train_params: &TrainParams,
    ae: Autoencoder,
    x: ArrayView2<f32>,
    unlabeled: &[usize],
    observer: Observer<'_>,
) -> Result<(Autoencoder, usize), Interrupted> {
    let Ok(key) = pretrain_key(params, train_params, &ae, x, unlabeled) else {
        // A declaration out of step with the parameters (the conformance tests refuse it):
        // nothing to look up, computed here.
        return pretrain(params, train_params, ae, x, unlabeled, observer)
            .map(|(a, r)| (a, r.steps));
    };
    let mut spare = Some(ae.clone());
    let got = cache.get_or_compute(&key, &mut || {
        let start = spare.take().unwrap_or_else(|| ae.clone());
        let (trained, report) = pretrain(params, train_params, start, x, unlabeled, observer)?;
        let mut tensors = Vec::new();
        trained.state("", &mut tensors);
        Ok(StageOutput { tensors, report })
    })?;
    // Loaded into a copy: a load that fails half-way must not alter the initial weights.
    let mut out = spare.take().unwrap_or_else(|| ae.clone());
    match out.load_state("", &got.tensors) {
        Ok(()) => Ok((out, got.report.steps)),
        // Not this autoencoder's state (a store that hands out another key's value):
        // compute it here rather than trust it.
        Err(_) => {
            pretrain(params, train_params, ae, x, unlabeled, observer).map(|(a, r)| (a, r.steps))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use rand::SeedableRng;

    #[test]
    fn pretraining_lowers_the_reconstruction_error() {
        let p = FeawadParams {
            ae_hidden: 6,
            code_dim: 3,
            pretrain_epochs: 5,
            batch_size: 32,
            lr: 1e-3,
            ..FeawadParams::default()
        };
        let mut rng = Rng::seed_from_u64(2);
        let x = Matrix::from_shape_simple_fn((64, 5), || rng.gen_range(0.0f32..1.0));
        let unl: Vec<usize> = (0..64).collect();
        for compat in [FeawadCompat::Fixed, FeawadCompat::Official] {
            let p = FeawadParams {
                compat,
                ..p.clone()
            };
            let ae = p.autoencoder(5, &mut Rng::seed_from_u64(1));
            let (_, report) = pretrain(
                &p,
                &TrainParams::default(),
                ae,
                x.view(),
                &unl,
                &mut crate::train::Silent,
            )
            .unwrap();
            assert_eq!(report.steps, 100);
            let l: Vec<f32> = report.epoch_losses.iter().flatten().copied().collect();
            assert!(l[4] < l[0], "{compat:?}: {l:?}");
        }
    }
}
