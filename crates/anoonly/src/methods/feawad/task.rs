//! FEAWAD's training tasks: the losses of both stages ([`MseLoss`], [`FeawadLoss`]) and the
//! batch sampler they share ([`Sampler`]), as [`Task`]s of the training core.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, Zip};
use rand::Rng as _;

#[cfg(doc)]
use super::net::{AeResidual, FeawadNet};
use super::FeawadCompat;
use crate::nn::{Matrix, Module};
use crate::rng::Rng;
use crate::train::{row_batch, Item, Reduction, SsadLoss, Task};

/// Stage 1's loss: Keras MSE on the residual output of [`AeResidual`]. Every item is
/// "normal"; `anomaly` is never called with the fixed weighting of stage 1 and gives the
/// same value.
#[derive(Clone, Copy, Debug)]
pub struct MseLoss;

impl SsadLoss for MseLoss {
    fn normal(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let k = 1.0 / out.len().max(1) as f32;
        Zip::from(&mut grad)
            .and(&out)
            .for_each(|g, &r| *g = 2.0 * k * r);
        out.dot(&out) * k
    }

    fn anomaly(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        self.normal(item, out, grad)
    }
}

/// FEAWAD's `L_N` and `L_A` on the output `[s, ‖x − x̂‖]` (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct FeawadLoss {
    pub margin: f32,
    pub lambda_r: f32,
    pub compat: FeawadCompat,
}

impl SsadLoss for FeawadLoss {
    /// `|s| + λ_R ‖x − x̂‖` (official: `|s| + λ_R·1`, constant).
    fn normal(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let (s, n) = (out[0], out[1]);
        grad[0] = if s > 0.0 {
            1.0
        } else if s < 0.0 {
            -1.0
        } else {
            0.0
        };
        match self.compat {
            FeawadCompat::Fixed => {
                grad[1] = self.lambda_r;
                s.abs() + self.lambda_r * n
            }
            FeawadCompat::Official => {
                grad[1] = 0.0;
                s.abs() + self.lambda_r
            }
        }
    }

    /// `max(0, a − s) + λ_R max(0, a − ‖x − x̂‖)` (official: the second term is
    /// `λ_R max(0, a − 1)`, constant).
    fn anomaly(&self, _: Item, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
        let (s, n) = (out[0], out[1]);
        let a = self.margin;
        grad[0] = if s < a { -1.0 } else { 0.0 };
        let hinge_s = (a - s).max(0.0);
        match self.compat {
            FeawadCompat::Fixed => {
                grad[1] = if n < a { -self.lambda_r } else { 0.0 };
                hinge_s + self.lambda_r * (a - n).max(0.0)
            }
            FeawadCompat::Official => {
                grad[1] = 0.0;
                hinge_s + self.lambda_r * (a - 1.0).max(0.0)
            }
        }
    }
}

/// The batch sampler of both stages: `batch_size` positions, even ones an unlabeled row and
/// odd ones a labeled anomaly (stage 2; stage 1 has unlabeled rows only), all drawn
/// uniformly with replacement. `reuse` (official mode) draws one batch on the first call
/// and returns it for every step of the stage.
#[derive(Clone, Debug)]
pub struct Sampler {
    pub unlabeled: Vec<usize>,
    pub anomalies: Vec<usize>,
    pub batch_size: usize,
    pub steps_per_epoch: usize,
    pub reuse: bool,
    fixed: Option<Vec<usize>>,
}

impl Sampler {
    pub fn new(
        unlabeled: Vec<usize>,
        anomalies: Vec<usize>,
        batch_size: usize,
        steps_per_epoch: usize,
        reuse: bool,
    ) -> Sampler {
        Sampler {
            unlabeled,
            anomalies,
            batch_size,
            steps_per_epoch,
            reuse,
            fixed: None,
        }
    }

    fn draw(&self, rng: &mut Rng) -> Vec<usize> {
        (0..self.batch_size)
            .map(|i| {
                let pool = if i % 2 == 1 && !self.anomalies.is_empty() {
                    &self.anomalies
                } else {
                    &self.unlabeled
                };
                pool[rng.gen_range(0..pool.len())]
            })
            .collect()
    }

    /// The batches of one epoch.
    pub fn epoch(&mut self, rng: &mut Rng) -> Vec<Vec<usize>> {
        if self.reuse {
            if self.fixed.is_none() {
                self.fixed = Some(self.draw(rng));
            }
            let b = self.fixed.clone().unwrap_or_default();
            vec![b; self.steps_per_epoch]
        } else {
            (0..self.steps_per_epoch).map(|_| self.draw(rng)).collect()
        }
    }
}

/// A task of either stage (`Net` = [`AeResidual`] or [`FeawadNet`]).
pub(super) struct FeawadTask<'a, N, L> {
    pub(super) x: ArrayView2<'a, f32>,
    pub(super) anomaly: Vec<bool>,
    pub(super) sampler: Sampler,
    pub(super) loss: L,
    pub(super) _net: std::marker::PhantomData<N>,
}

impl<N: Module + Clone, L: SsadLoss> Task for FeawadTask<'_, N, L> {
    type Net = N;
    type Batch = Vec<usize>;

    fn epoch_batches(&mut self, _epoch: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
        self.sampler.epoch(rng)
    }

    fn input(&self, batch: &Vec<usize>) -> (Matrix, Vec<Item>) {
        row_batch(self.x, &self.anomaly, batch)
    }

    fn loss(&self) -> &dyn SsadLoss {
        &self.loss
    }

    fn reduction(&self) -> Reduction {
        Reduction::BatchMean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1};
    use rand::SeedableRng;

    fn item(anomaly: bool) -> Item {
        Item {
            index: 0,
            anomaly,
            target: 0.0,
        }
    }

    fn eval(loss: &FeawadLoss, anomaly: bool, out: [f32; 2]) -> (f32, [f32; 2]) {
        let o = array![out[0], out[1]];
        let mut g = Array1::<f32>::zeros(2);
        let v = if anomaly {
            loss.anomaly(item(true), o.view(), g.view_mut())
        } else {
            loss.normal(item(false), o.view(), g.view_mut())
        };
        (v, [g[0], g[1]])
    }

    #[test]
    fn fixed_losses_use_the_real_reconstruction_error() {
        let l = FeawadLoss {
            margin: 5.0,
            lambda_r: 0.5,
            compat: FeawadCompat::Fixed,
        };
        // |−2| + 0.5·3
        assert_eq!(eval(&l, false, [-2.0, 3.0]), (3.5, [-1.0, 0.5]));
        assert_eq!(eval(&l, false, [1.5, 0.0]), (1.5, [1.0, 0.5]));
        // max(0, 5 − 1) + 0.5·max(0, 5 − 3)
        assert_eq!(eval(&l, true, [1.0, 3.0]), (5.0, [-1.0, -0.5]));
        // both hinges inactive
        assert_eq!(eval(&l, true, [6.0, 7.0]), (0.0, [0.0, 0.0]));
    }

    #[test]
    fn official_reconstruction_terms_are_constants_without_gradient() {
        let l = FeawadLoss {
            margin: 5.0,
            lambda_r: 1.0,
            compat: FeawadCompat::Official,
        };
        // ‖r̂‖ = 1: |s| + 1 and max(0, 5 − s) + 4, whatever the reconstruction error.
        for n in [0.0, 3.0, 40.0] {
            assert_eq!(eval(&l, false, [-2.0, n]), (3.0, [-1.0, 0.0]));
            assert_eq!(eval(&l, true, [1.0, n]), (8.0, [-1.0, 0.0]));
            assert_eq!(eval(&l, true, [9.0, n]), (4.0, [0.0, 0.0]));
        }
    }

    #[test]
    fn mse_loss_is_the_keras_mean_square() {
        let mut g = Array1::<f32>::zeros(4);
        let v = MseLoss.normal(
            item(false),
            array![1.0f32, -2.0, 0.0, 1.0].view(),
            g.view_mut(),
        );
        assert_eq!(v, 6.0 / 4.0);
        assert_eq!(g, array![0.5f32, -1.0, 0.0, 0.5]);
    }

    #[test]
    fn official_sampler_reuses_one_batch_and_fixed_draws_fresh_ones() {
        let unl: Vec<usize> = (0..50).collect();
        let ano: Vec<usize> = (50..55).collect();
        let mut rng = Rng::seed_from_u64(0);
        let mut off = Sampler::new(unl.clone(), ano.clone(), 16, 4, true);
        let e0 = off.epoch(&mut rng);
        let e1 = off.epoch(&mut rng);
        assert_eq!(e0.len(), 4);
        assert!(e0.iter().chain(e1.iter()).all(|b| *b == e0[0]));
        let mut fresh = Sampler::new(unl, ano, 16, 4, false);
        let f0 = fresh.epoch(&mut rng);
        assert!(f0.windows(2).all(|w| w[0] != w[1]));
        assert_ne!(f0, fresh.epoch(&mut rng));
        for b in e0.iter().chain(f0.iter()) {
            assert_eq!(b.len(), 16);
            for (i, &r) in b.iter().enumerate() {
                assert_eq!(r >= 50, i % 2 == 1, "position {i}: row {r}");
            }
        }
    }
}
