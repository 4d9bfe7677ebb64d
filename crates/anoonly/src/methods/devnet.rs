//! DevNet (Pang et al., KDD 2019) as the AnoOnly authors' code runs it (docs/protocol.md 2.2:
//! `baselines/DevNet/run.py`, Keras).
//!
//! Network `Dense(d→20, ReLU, bias) → [normalisation] → Dense(20→1, linear, bias)`, Keras
//! `glorot_uniform` kernels and zero biases, an L2 penalty `0.01·ΣW²` on the first kernel
//! only (Keras `kernel_regularizer=l2(0.01)`, part of the loss). The normalisation comes
//! from [`head_norm`] with DevNet's own choice `None`: AnoOnly adds a Keras BatchNorm(20)
//! after the ReLU. The score is the linear output, BatchNorm in inference mode.
//!
//! Training: batches of 64 built by position (even positions an unlabeled row, odd a
//! labeled anomaly, both drawn uniformly with replacement), 20 batches per epoch, 50 epochs,
//! Keras RMSprop(lr 2e-4, rho 0.9, eps 1e-7), Keras's loss mean over the whole batch, and the
//! weights of the epoch with the lowest mean training loss (L2 term included) kept, as Keras
//! `ModelCheckpoint(monitor='loss', save_best_only=True)` does.
//!
//! Losses (margin a = 5, s = network output; the authors' code drops the z-score and uses
//! the raw output as the deviation):
//! - [`DevNetLoss::Official`] (default): `L_N = |s|`, `L_A = |a − s|` (absolute value, so
//!   anomalies scored above a are pulled back down). **Under AnoOnly the authors' code also
//!   changes the form of `L_A`** to the linear, unbounded `a − s` (no hinge, no absolute
//!   value). That is a change of the loss form, not of the AnoOnly switch itself, so it is
//!   keyed here on the effective `lambda_n == 0` (the code's AnoOnly has no normal loss); any
//!   `lambda_n > 0` keeps `|a − s|`.
//! - [`DevNetLoss::Paper`]: the paper's eq. 18/19, `L_N = |s|`, `L_A = max(0, a − s)`, for
//!   every `lambda_n`.
//!
//! Not replicated: the reference-sample z-score of the original DevNet (the authors' code
//! creates the N(0,1) sample but does not use it) and numpy's generator streams (every draw
//! here comes from [`component_rng`]).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::{FitError, Knobs, Method, MethodKind};
use crate::nn::{
    eval_rows, gather_rows, Activation, ActivationLayer, Init, Layer, Linear, LrSchedule, Matrix,
    Module, NamedTensor, RmsProp, Sequential, StateError,
};
use crate::rng::{component_rng, Rng};
use crate::train::{
    self, head_norm, norm_layer, Checkpoint, FitContext, HeadNorm, Item, NormFlavour, Observer,
    Reduction, Schedule, ScheduleUnit, SsadLoss, Task, TrainParams, TrainReport,
};
use crate::vocab::{count_in, non_negative, positive, NormKind, ParamError};

/// Which DevNet losses to train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DevNetLoss {
    /// The authors' code: `L_N = |s|`, `L_A = |a − s|`; with `lambda_n = 0` (AnoOnly)
    /// `L_A = a − s`, linear and unbounded.
    #[default]
    Official,
    /// The paper (eq. 18/19): `L_N = |s|`, `L_A = max(0, a − s)`.
    Paper,
}

/// DevNet hyperparameters; defaults are the authors' code (docs/protocol.md 2.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DevNetParams {
    /// Width of the hidden layer (authors: 20).
    pub hidden: usize,
    /// Keras kernel L2 coefficient on the first layer: `l2·ΣW²` is added to the loss.
    pub l2: f32,
    /// Keras RMSprop learning rate.
    pub lr: f32,
    pub epochs: usize,
    /// Batches per epoch (Keras `steps_per_epoch`).
    pub batches_per_epoch: usize,
    /// Rows per batch: even positions unlabeled, odd positions labeled anomalies.
    pub batch_size: usize,
    /// The confidence margin `a`.
    pub margin: f32,
    /// Loss forms (`official` or `paper`).
    pub loss: DevNetLoss,
}

impl Default for DevNetParams {
    fn default() -> Self {
        DevNetParams {
            hidden: 20,
            l2: 0.01,
            lr: 2e-4,
            epochs: 50,
            batches_per_epoch: 20,
            batch_size: 64,
            margin: 5.0,
            loss: DevNetLoss::Official,
        }
    }
}

impl DevNetParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        count_in("hidden", self.hidden, 1, usize::MAX)?;
        non_negative("l2", self.l2)?;
        positive("lr", self.lr)?;
        count_in("epochs", self.epochs, 1, 1_000_000)?;
        count_in("batches_per_epoch", self.batches_per_epoch, 1, 1_000_000)?;
        if self.batch_size < 2 || self.batch_size > 1_000_000 {
            return Err(ParamError::new(
                "batch_size",
                self.batch_size,
                "must be in 2..=1000000 (even positions unlabeled, odd positions anomalies)",
            ));
        }
        positive("margin", self.margin)?;
        Ok(())
    }

    /// The network; `norm` is the layer between the ReLU and the output layer (DevNet's own
    /// choice is `None`; AnoOnly's is a Keras BatchNorm). Kernels are drawn from `rng` in
    /// layer order.
    pub fn network(&self, d_in: usize, norm: impl Into<HeadNorm>, rng: &mut Rng) -> Sequential {
        let h = self.hidden;
        let mut layers: Vec<Layer> = vec![
            Linear::new(d_in, h, true, Init::GlorotUniform, rng).into(),
            ActivationLayer::new(Activation::Relu).into(),
        ];
        layers.extend(norm_layer(norm, h, NormFlavour::Keras));
        layers.push(Linear::new(h, 1, true, Init::GlorotUniform, rng).into());
        Sequential::new(layers)
    }

    /// The `L_A` form of this run (see the module documentation).
    pub fn anomaly_form(&self, train: &TrainParams) -> AnomalyForm {
        match self.loss {
            DevNetLoss::Official if train.lambda_n() == 0.0 => AnomalyForm::Linear,
            DevNetLoss::Official => AnomalyForm::Abs,
            DevNetLoss::Paper => AnomalyForm::Hinge,
        }
    }
}

/// The form of DevNet's anomaly loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnomalyForm {
    /// `|a − s|` (official, vanilla).
    Abs,
    /// `a − s` (official, AnoOnly).
    Linear,
    /// `max(0, a − s)` (paper).
    Hinge,
}

/// DevNet's `L_N` and `L_A` on the scalar output s.
#[derive(Clone, Copy, Debug)]
pub struct DevNetObjective {
    pub margin: f32,
    pub anomaly_form: AnomalyForm,
}

/// `sign(v)` with `sign(0) = 0`, TensorFlow's gradient of `abs`.
fn sign(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl SsadLoss for DevNetObjective {
    fn normal(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let s = out[0];
        grad[0] = sign(s);
        s.abs()
    }

    fn anomaly(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let r = self.margin - out[0];
        match self.anomaly_form {
            AnomalyForm::Abs => {
                grad[0] = -sign(r);
                r.abs()
            }
            AnomalyForm::Linear => {
                grad[0] = -1.0;
                r
            }
            AnomalyForm::Hinge => {
                // As TF's `K.maximum(a − s, 0.)`: the gradient goes to the first argument
                // where it is >= the second, so r = 0 still has gradient −1.
                grad[0] = if r >= 0.0 { -1.0 } else { 0.0 };
                r.max(0.0)
            }
        }
    }
}

/// The training task: positional batches of unlabeled rows and labeled anomalies.
pub struct DevNetTask<'a> {
    x: ArrayView2<'a, f32>,
    unlabeled: Vec<u32>,
    anomalies: Vec<u32>,
    batch_size: usize,
    batches_per_epoch: usize,
    loss: DevNetObjective,
    l2: f32,
}

impl<'a> DevNetTask<'a> {
    /// The task for rows `x` with labels `y` (1 = labeled anomaly).
    ///
    /// # Errors
    /// When `y` has no unlabeled row or no labeled anomaly (the sampler needs both).
    pub fn new(
        params: &DevNetParams,
        train: &TrainParams,
        x: ArrayView2<'a, f32>,
        y: ArrayView1<u8>,
    ) -> Result<Self, FitError> {
        let unlabeled = train::rows_labeled(y, 0);
        let anomalies = train::rows_labeled(y, 1);
        if unlabeled.is_empty() {
            return Err(FitError::TooFewUnlabeled {
                method: MethodKind::DevNet,
                found: 0,
                needed: 1,
            });
        }
        if anomalies.is_empty() {
            return Err(FitError::NoLabeledAnomaly {
                method: MethodKind::DevNet,
            });
        }
        Ok(DevNetTask {
            x,
            unlabeled,
            anomalies,
            batch_size: params.batch_size,
            batches_per_epoch: params.batches_per_epoch,
            loss: DevNetObjective {
                margin: params.margin,
                anomaly_form: params.anomaly_form(train),
            },
            l2: params.l2,
        })
    }

    /// One batch of row indices: position i even → an unlabeled row, odd → a labeled
    /// anomaly, each uniform with replacement.
    pub fn draw_batch(&self, rng: &mut Rng) -> Vec<usize> {
        (0..self.batch_size)
            .map(|i| {
                let pool = if i % 2 == 0 {
                    &self.unlabeled
                } else {
                    &self.anomalies
                };
                pool[rng.gen_range(0..pool.len())] as usize
            })
            .collect()
    }
}

/// `l2·ΣW²` of the first dense kernel of `net`; adds its gradient `2·l2·W` to the kernel's
/// accumulated gradient and returns the value (Keras `kernel_regularizer=l2(l2)`).
pub fn kernel_l2(net: &mut Sequential, l2: f32) -> f32 {
    if l2 == 0.0 {
        return 0.0;
    }
    let Some(Layer::Linear(first)) = net.layers.first_mut() else {
        return 0.0;
    };
    let mut sum = 0.0f32;
    match (first.grad_weight.as_slice_mut(), first.weight.as_slice()) {
        // Flat slices (the layer keeps both in standard layout): the gradient loop
        // vectorises, the sum stays one chain in element order.
        (Some(g), Some(w)) if g.len() == w.len() => {
            for (g, &w) in g.iter_mut().zip(w) {
                *g += 2.0 * l2 * w;
            }
            for &w in w {
                sum += w * w;
            }
        }
        _ => {
            for (g, &w) in first.grad_weight.iter_mut().zip(first.weight.iter()) {
                sum += w * w;
                *g += 2.0 * l2 * w;
            }
        }
    }
    l2 * sum
}

impl Task for DevNetTask<'_> {
    type Net = Sequential;
    type Batch = Vec<usize>;

    fn epoch_batches(&mut self, _epoch: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
        (0..self.batches_per_epoch)
            .map(|_| self.draw_batch(rng))
            .collect()
    }

    fn input(&self, batch: &Vec<usize>) -> (Matrix, Vec<Item>) {
        let input = gather_rows(self.x, batch);
        let items = (0..batch.len())
            .map(|index| Item {
                index,
                anomaly: index % 2 == 1,
                target: 0.0,
            })
            .collect();
        (input, items)
    }

    fn loss(&self) -> &dyn SsadLoss {
        &self.loss
    }

    fn reduction(&self) -> Reduction {
        Reduction::BatchMean
    }

    fn penalty(&self, net: &mut Sequential) -> f32 {
        kernel_l2(net, self.l2)
    }
}

/// A fitted DevNet model.
#[derive(Clone, Debug)]
pub struct FittedDevNet {
    pub net: Sequential,
}

impl FittedDevNet {
    /// The linear output for each row (BatchNorm in inference mode).
    pub fn scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        eval_rows(&self.net, x, |out| out[0])
    }

    /// [`Method::fit`] with the checkpoint rule as a parameter (the authors' code keeps the
    /// best-training-loss epoch; `Last` exists for tests and inspection).
    pub fn fit_with_checkpoint(
        params: &DevNetParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        checkpoint: Checkpoint,
        observer: Observer<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let seed = train_params.seed;
        let norm = head_norm(train_params, Self::OWN_NORM);
        let mut net = params.network(x.ncols(), norm, &mut component_rng(seed, "init"));
        let mut task = DevNetTask::new(params, train_params, x, y)?;
        let schedule = Schedule {
            epochs: params.epochs,
            base_lr: params.lr,
            lr_schedule: LrSchedule::Constant,
            unit: ScheduleUnit::Batch,
            checkpoint,
        };
        let mut opt = RmsProp::keras();
        let report = train::fit(
            &mut task,
            &mut net,
            &mut opt,
            &schedule,
            train_params,
            &mut component_rng(seed, "sampler"),
            observer,
        )?;
        Ok((FittedDevNet { net }, report))
    }
}

impl Method for FittedDevNet {
    type Params = DevNetParams;
    const NAME: &'static str = "devnet";
    const DISPLAY_NAME: &'static str = "DevNet";
    const SUMMARY: &'static str =
        "DevNet (Pang et al., KDD 2019): a deviation network that scores unlabeled rows near 0 \
         and labeled anomalies beyond a margin. `loss` picks `\"official\"` (the authors' code) \
         or `\"paper\"` (the paper's hinge losses). AnoOnly (`anoonly=True`, `--anoonly`) drops \
         the loss on unlabeled rows (lambda_n = 0) and adds a BatchNorm before the output \
         layer.";
    const SUPPORTS_ANOONLY: bool = true;
    /// None (AnoOnly adds a Keras BatchNorm after the hidden ReLU).
    const OWN_NORM: NormKind = NormKind::None;
    /// Its sampler draws half of every batch from the labeled anomalies.
    const TRAINS_WITHOUT_ANOMALIES: bool = false;

    fn knobs(p: &mut DevNetParams) -> Knobs<'_> {
        Knobs::new(&mut p.epochs, &mut p.batch_size)
    }

    fn layer_widths(p: &DevNetParams, n_features: usize) -> Vec<(&'static str, usize)> {
        vec![("n_features", n_features), ("hidden", p.hidden)]
    }

    fn relative_cost(n_rows: usize) -> f64 {
        0.3 * super::rows_in_thousands(n_rows)
    }

    fn validate(params: &DevNetParams) -> Result<(), ParamError> {
        params.validate()
    }

    fn fit(
        params: &DevNetParams,
        train_params: &TrainParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        ctx: FitContext<'_>,
    ) -> Result<(Self, TrainReport), FitError> {
        let observer = ctx.observer;
        Self::fit_with_checkpoint(
            params,
            train_params,
            x,
            y,
            Checkpoint::BestTrainLoss,
            observer,
        )
    }

    fn decision_function(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.scores(x)
    }

    /// The input of the linear score layer: the 20-d ReLU output of the hidden layer, after
    /// AnoOnly's (Keras) BatchNorm when the fit had one.
    fn representation(&self, x: ArrayView2<f32>) -> Option<Array2<f32>> {
        Some(self.net.eval_before_last(x))
    }

    fn state(&self, out: &mut Vec<NamedTensor>) {
        self.net.state("net.", out);
    }

    fn from_state(
        params: &DevNetParams,
        train: &TrainParams,
        n_features: usize,
        tensors: &[NamedTensor],
    ) -> Result<Self, StateError> {
        let norm = head_norm(train, Self::OWN_NORM);
        let mut net = params.network(n_features, norm, &mut component_rng(0, "load"));
        net.load_state("net.", tensors)?;
        Ok(FittedDevNet { net })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn item(anomaly: bool) -> Item {
        Item {
            index: 0,
            anomaly,
            target: 0.0,
        }
    }

    fn eval(obj: &DevNetObjective, anomaly: bool, s: f32) -> (f32, f32) {
        let out = array![s];
        let mut g = array![f32::NAN];
        let v = if anomaly {
            obj.anomaly(item(true), out.view(), g.view_mut())
        } else {
            obj.normal(item(false), out.view(), g.view_mut())
        };
        (v, g[0])
    }

    fn obj(anomaly_form: AnomalyForm) -> DevNetObjective {
        DevNetObjective {
            margin: 5.0,
            anomaly_form,
        }
    }

    #[test]
    fn loss_values_by_hand() {
        for form in [AnomalyForm::Abs, AnomalyForm::Linear, AnomalyForm::Hinge] {
            // L_N = |s| in every variant.
            assert_eq!(eval(&obj(form), false, 2.5), (2.5, 1.0));
            assert_eq!(eval(&obj(form), false, -1.5), (1.5, -1.0));
            assert_eq!(eval(&obj(form), false, 0.0), (0.0, 0.0));
            // Below the margin all three agree: 5 − 3 = 2, d/ds = −1.
            assert_eq!(eval(&obj(form), true, 3.0), (2.0, -1.0));
        }
        // Above the margin (s = 7.5) they differ.
        assert_eq!(eval(&obj(AnomalyForm::Abs), true, 7.5), (2.5, 1.0));
        assert_eq!(eval(&obj(AnomalyForm::Linear), true, 7.5), (-2.5, -1.0));
        assert_eq!(eval(&obj(AnomalyForm::Hinge), true, 7.5), (0.0, 0.0));
    }

    #[test]
    fn loss_gradients_match_finite_differences() {
        let h = 1e-3f32;
        for form in [AnomalyForm::Abs, AnomalyForm::Linear, AnomalyForm::Hinge] {
            let o = obj(form);
            for anomaly in [false, true] {
                for s in [-3.2f32, -0.4, 0.7, 4.1, 5.6, 9.0] {
                    let (_, g) = eval(&o, anomaly, s);
                    let fd = (eval(&o, anomaly, s + h).0 - eval(&o, anomaly, s - h).0) / (2.0 * h);
                    assert!(
                        (fd - g).abs() < 1e-2,
                        "{form:?} {anomaly} s={s}: {fd} vs {g}"
                    );
                }
            }
        }
    }

    #[test]
    fn batch_loss_is_the_keras_mean_over_the_whole_batch() {
        // Batch [u, a, u, a] with outputs [1, 3, -2, 8].
        let out = array![[1.0f32], [3.0], [-2.0], [8.0]];
        let items: Vec<Item> = (0..4)
            .map(|index| Item {
                index,
                anomaly: index % 2 == 1,
                target: 0.0,
            })
            .collect();
        let w = |lambda_n| train::LossWeighting {
            lambda_n,
            reduction: Reduction::BatchMean,
        };
        // Official vanilla: (|1| + |5−3| + |−2| + |5−8|) / 4 = 8 / 4.
        let l = train::combine(&obj(AnomalyForm::Abs), &out, &items, &w(1.0));
        assert_eq!(l.value, Some(2.0));
        assert_eq!(l.grad, array![[0.25f32], [-0.25], [-0.25], [0.25]]);
        // Official AnoOnly: ((5−3) + (5−8)) / 4, normal rows contribute 0 but count.
        let l = train::combine(&obj(AnomalyForm::Linear), &out, &items, &w(0.0));
        assert_eq!(l.value, Some(-0.25));
        assert_eq!(l.grad, array![[0.0f32], [-0.25], [0.0], [-0.25]]);
        // Paper AnoOnly: (max(0, 2) + max(0, −3)) / 4.
        let l = train::combine(&obj(AnomalyForm::Hinge), &out, &items, &w(0.0));
        assert_eq!(l.value, Some(0.5));
        assert_eq!(l.grad, array![[0.0f32], [-0.25], [0.0], [0.0]]);
    }

    #[test]
    fn anomaly_form_follows_loss_choice_and_lambda_n() {
        let off = DevNetParams::default();
        let paper = DevNetParams {
            loss: DevNetLoss::Paper,
            ..DevNetParams::default()
        };
        let vanilla = TrainParams::default();
        let anoonly = TrainParams {
            anoonly: true,
            ..TrainParams::default()
        };
        let small = TrainParams {
            anoonly: true,
            lambda_n: Some(1e-6),
            ..TrainParams::default()
        };
        let zero = TrainParams {
            lambda_n: Some(0.0),
            ..TrainParams::default()
        };
        assert_eq!(off.anomaly_form(&vanilla), AnomalyForm::Abs);
        assert_eq!(off.anomaly_form(&anoonly), AnomalyForm::Linear);
        assert_eq!(off.anomaly_form(&small), AnomalyForm::Abs);
        assert_eq!(off.anomaly_form(&zero), AnomalyForm::Linear);
        for t in [&vanilla, &anoonly, &small, &zero] {
            assert_eq!(paper.anomaly_form(t), AnomalyForm::Hinge);
        }
    }

    #[test]
    fn kernel_l2_value_and_gradient() {
        let p = DevNetParams::default();
        let mut net = p.network(3, NormKind::Bn, &mut component_rng(0, "t"));
        net.zero_grad();
        let Layer::Linear(first) = &net.layers[0] else {
            panic!("first layer is dense")
        };
        let w = first.weight.clone();
        // One chain of additions in element order, bit for bit (the loop the flat-slice
        // pass replaced).
        let mut chain = 0.0f32;
        for &v in w.iter() {
            chain += v * v;
        }
        let expect = 0.01 * chain;
        let v = kernel_l2(&mut net, 0.01);
        assert_eq!(v.to_bits(), expect.to_bits());
        let Layer::Linear(first) = &net.layers[0] else {
            panic!("first layer is dense")
        };
        assert_eq!(first.grad_weight, w.mapv(|v| 0.02 * v));
        // Only the first kernel: the first bias and the output layer get nothing.
        assert!(first
            .grad_bias
            .as_ref()
            .is_some_and(|g| g.iter().all(|&v| v == 0.0)));
        let Some(Layer::Linear(last)) = net.layers.last() else {
            panic!("last layer is dense")
        };
        assert!(last.grad_weight.iter().all(|&v| v == 0.0));
        // Finite difference of the value along one weight.
        let h = 1e-2f32;
        let mut plus = net.clone();
        let mut minus = net.clone();
        if let (Layer::Linear(a), Layer::Linear(b)) = (&mut plus.layers[0], &mut minus.layers[0]) {
            a.weight[[4, 1]] += h;
            b.weight[[4, 1]] -= h;
        }
        let fd = (kernel_l2(&mut plus, 0.01) - kernel_l2(&mut minus, 0.01)) / (2.0 * h);
        assert!((fd - 0.02 * w[[4, 1]]).abs() < 1e-4, "{fd}");
    }

    #[test]
    fn network_layout_by_norm_kind() {
        let p = DevNetParams::default();
        let mut rng = component_rng(0, "t");
        let vanilla = p.network(7, NormKind::None, &mut rng);
        assert_eq!(vanilla.layers.len(), 3);
        let anoonly = p.network(7, NormKind::Bn, &mut rng);
        assert_eq!(anoonly.layers.len(), 4);
        let Layer::BatchNorm(bn) = &anoonly.layers[2] else {
            panic!("BN after the ReLU")
        };
        assert_eq!((bn.eps, bn.momentum, bn.affine()), (1e-3, 0.99, true));
        let Layer::Linear(first) = &anoonly.layers[0] else {
            panic!()
        };
        assert_eq!(first.weight.dim(), (20, 7));
        assert!(first
            .bias
            .as_ref()
            .is_some_and(|b| b.iter().all(|&v| v == 0.0)));
        let bound = (6.0f32 / 27.0).sqrt();
        assert!(first.weight.iter().all(|v| v.abs() <= bound));
        let Layer::Linear(last) = &anoonly.layers[3] else {
            panic!()
        };
        assert_eq!(last.weight.dim(), (1, 20));
        let Layer::BatchNorm(bn) = &p.network(7, NormKind::BnNoAffine, &mut rng).layers[2] else {
            panic!()
        };
        assert!(!bn.affine());
    }

    #[test]
    fn sampler_alternates_unlabeled_and_anomalies_with_replacement() {
        // Rows 0..40: anomalies at 3, 17, 29; the rest unlabeled.
        let n = 40;
        let x = Array2::<f32>::zeros((n, 2));
        let mut y = Array1::<u8>::zeros(n);
        for a in [3, 17, 29] {
            y[a] = 1;
        }
        let p = DevNetParams::default();
        let mut task = DevNetTask::new(&p, &TrainParams::default(), x.view(), y.view()).unwrap();
        let mut rng = component_rng(5, "t");
        let batches = task.epoch_batches(0, &mut rng);
        assert_eq!(batches.len(), 20);
        let mut seen_a = [0usize; 3];
        let mut seen_u = std::collections::HashSet::new();
        for b in &batches {
            assert_eq!(b.len(), 64);
            for (i, &r) in b.iter().enumerate() {
                assert_eq!(y[r], u8::from(i % 2 == 1), "position {i} row {r}");
                if y[r] == 1 {
                    seen_a[[3, 17, 29].iter().position(|&a| a == r).unwrap()] += 1;
                } else {
                    seen_u.insert(r);
                }
            }
            let (_, items) = task.input(b);
            assert_eq!(items.iter().filter(|it| it.anomaly).count(), 32);
            assert!(items.iter().all(|it| it.anomaly == (y[b[it.index]] == 1)));
        }
        // 640 anomaly draws over 3 rows: each near 213 (binomial sd ≈ 12).
        assert!(
            seen_a.iter().all(|&c| (150..280).contains(&c)),
            "{seen_a:?}"
        );
        // 640 draws over 37 unlabeled rows with replacement reach every row.
        assert_eq!(seen_u.len(), 37);
        // Refuses data without unlabeled rows.
        let all = Array1::<u8>::ones(n);
        assert!(DevNetTask::new(&p, &TrainParams::default(), x.view(), all.view()).is_err());
    }
}
