//! PReNet's training pairs: how a batch of pairs is drawn ([`sample_pairs`]), their L1
//! losses ([`PReNetLoss`]) and the training task on them.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1};
use rand::seq::SliceRandom;
use rand::Rng as _;

use super::net::PairNet;
#[cfg(doc)]
use super::FittedPReNet;
use super::PReNetParams;
use crate::nn::{pool, Matrix};
use crate::rng::Rng;
use crate::train::{Item, Reduction, SsadLoss, Task};

/// Which kind of pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairKind {
    /// Two labeled anomalies.
    AnomalyAnomaly,
    /// Labeled anomaly on the left, unlabeled row on the right.
    AnomalyUnlabeled,
    /// Two unlabeled rows.
    UnlabeledUnlabeled,
}

/// One training pair: training-row indices and the regression target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub left: usize,
    pub right: usize,
    pub kind: PairKind,
    pub target: f32,
}

/// One batch of pairs, drawn as the authors' `sampler_pairs` does (docs/protocol.md 2.4):
/// parts A0, A1, A2 (`batch/4` anomalies each, with replacement), U3 (`batch/4` unlabeled,
/// without replacement), U4, U5 (`batch/2` unlabeled each, without replacement);
/// left = [A0, A2, U4], right = [A1, U3, U5]; then one permutation of the pairs.
///
/// With `replace_unlabeled` the three unlabeled parts are drawn with replacement instead,
/// as DeepOD's PReNet draws every pair (for training sets with fewer than `batch/2`
/// unlabeled rows, where the authors' draw is impossible; see [`FittedPReNet`]'s `fit`).
///
/// # Panics
/// If `anomalies` or `unlabeled` is empty, or `unlabeled` has fewer than `batch_size / 2`
/// rows without `replace_unlabeled` (the fit checks first).
pub fn sample_pairs(
    anomalies: &[usize],
    unlabeled: &[usize],
    batch_size: usize,
    target_aa: f32,
    target_au: f32,
    replace_unlabeled: bool,
    rng: &mut Rng,
) -> Vec<Pair> {
    let q = batch_size / 4;
    let h = batch_size / 2;
    assert!(!anomalies.is_empty(), "PReNet needs a labeled anomaly");
    assert!(!unlabeled.is_empty(), "PReNet needs an unlabeled row");
    assert!(
        replace_unlabeled || unlabeled.len() >= h,
        "PReNet needs batch_size/2 unlabeled rows to draw them without replacement"
    );
    let with_replacement = |pool: &[usize], n: usize, rng: &mut Rng| -> Vec<usize> {
        (0..n).map(|_| pool[rng.gen_range(0..pool.len())]).collect()
    };
    let without_replacement = |pool: &[usize], n: usize, rng: &mut Rng| -> Vec<usize> {
        rand::seq::index::sample(rng, pool.len(), n)
            .into_iter()
            .map(|i| pool[i])
            .collect()
    };
    let a0 = with_replacement(anomalies, q, rng);
    let a1 = with_replacement(anomalies, q, rng);
    let a2 = with_replacement(anomalies, q, rng);
    let draw_unlabeled = if replace_unlabeled {
        with_replacement
    } else {
        without_replacement
    };
    let u3 = draw_unlabeled(unlabeled, q, rng);
    let u4 = draw_unlabeled(unlabeled, h, rng);
    let u5 = draw_unlabeled(unlabeled, h, rng);
    let mut pairs = Vec::with_capacity(batch_size);
    let mut push = |l: &[usize], r: &[usize], kind: PairKind, target: f32| {
        for (&left, &right) in l.iter().zip(r) {
            pairs.push(Pair {
                left,
                right,
                kind,
                target,
            });
        }
    };
    push(&a0, &a1, PairKind::AnomalyAnomaly, target_aa);
    push(&a2, &u3, PairKind::AnomalyUnlabeled, target_au);
    push(&u4, &u5, PairKind::UnlabeledUnlabeled, 0.0);
    pairs.shuffle(rng);
    pairs
}

/// PReNet's L1 losses on a pair score: `L_N = |0 − f|` for (u,u) pairs, `L_A = |t − f|`
/// with the pair's target `t` ([`Item::target`]) for the others. The gradient at a tie is
/// 0, as torch's `abs` backward (`sign(0) = 0`).
#[derive(Clone, Copy, Debug, Default)]
pub struct PReNetLoss;

fn l1(target: f32, out: ArrayView1<f32>, mut grad: ArrayViewMut1<f32>) -> f32 {
    let r = out[0] - target;
    grad[0] = if r > 0.0 {
        1.0
    } else if r < 0.0 {
        -1.0
    } else {
        0.0
    };
    r.abs()
}

impl SsadLoss for PReNetLoss {
    fn normal(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        l1(item.target, out, grad)
    }

    fn anomaly(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32 {
        l1(item.target, out, grad)
    }
}

/// The training task: `batches_per_epoch` freshly sampled pair batches per epoch.
pub(super) struct PReNetTask<'a> {
    pub(super) x: ArrayView2<'a, f32>,
    pub(super) anomalies: Vec<usize>,
    pub(super) unlabeled: Vec<usize>,
    /// Fewer than `batch_size / 2` unlabeled rows: drawn with replacement.
    pub(super) replace_unlabeled: bool,
    pub(super) params: PReNetParams,
    pub(super) loss: PReNetLoss,
}

impl Task for PReNetTask<'_> {
    type Net = PairNet;
    type Batch = Vec<Pair>;

    fn epoch_batches(&mut self, _epoch: usize, rng: &mut Rng) -> Vec<Vec<Pair>> {
        let p = &self.params;
        (0..p.batches_per_epoch)
            .map(|_| {
                sample_pairs(
                    &self.anomalies,
                    &self.unlabeled,
                    p.batch_size,
                    p.target_aa,
                    p.target_au,
                    self.replace_unlabeled,
                    rng,
                )
            })
            .collect()
    }

    fn input(&self, batch: &Vec<Pair>) -> (Matrix, Vec<Item>) {
        pair_batch(self.x, batch)
    }

    fn loss(&self) -> &dyn SsadLoss {
        &self.loss
    }

    fn reduction(&self) -> Reduction {
        Reduction::WeightedMean
    }
}

/// The pair net's input for `pairs` (the left rows over the right rows, [`PairNet`]'s
/// layout) and their loss items ((u,u) pairs carry `L_N`, the others `L_A`).
pub fn pair_batch(x: ArrayView2<f32>, pairs: &[Pair]) -> (Matrix, Vec<Item>) {
    let d = x.ncols();
    // Written row by row into a reused buffer (no zero fill first: it is all overwritten).
    let mut values = pool::vec_with_capacity(pairs.len() * 2 * d);
    for r in pairs
        .iter()
        .map(|p| p.left)
        .chain(pairs.iter().map(|p| p.right))
    {
        let row = x.row(r);
        match row.as_slice() {
            Some(s) => values.extend_from_slice(s),
            None => values.extend(row.iter().copied()),
        }
    }
    let items = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| Item {
            index: i,
            anomaly: p.kind != PairKind::UnlabeledUnlabeled,
            target: p.target,
        })
        .collect();
    let input = Matrix::from_shape_vec((2 * pairs.len(), d), values).expect("2d values a pair");
    (input, items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::component_rng;
    use crate::train::{combine, LossWeighting, TrainParams};
    use ndarray::{array, Array1, Array2};

    fn item(index: usize, anomaly: bool, target: f32) -> Item {
        Item {
            index,
            anomaly,
            target,
        }
    }

    #[test]
    fn l1_loss_values_and_gradients_by_hand() {
        let mut g = Array1::zeros(1);
        let v = PReNetLoss.normal(item(0, false, 0.0), array![-1.5f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (1.5, -1.0));
        let v = PReNetLoss.anomaly(item(0, true, 8.0), array![5.0f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (3.0, -1.0));
        let v = PReNetLoss.anomaly(item(0, true, 4.0), array![4.5f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (0.5, 1.0));
        let v = PReNetLoss.anomaly(item(0, true, 4.0), array![4.0f32].view(), g.view_mut());
        assert_eq!((v, g[0]), (0.0, 0.0));
    }

    /// Batch of four pairs: (a,a) target 8 scored 6, (a,u) target 4 scored 5, two (u,u)
    /// scored 1 and −3. Vanilla: (2 + 1 + 1 + 3)/4; AnoOnly: (2 + 1)/2.
    #[test]
    fn batch_loss_vanilla_and_anoonly_by_hand() {
        let out = array![[6.0f32], [5.0], [1.0], [-3.0]];
        let items = vec![
            item(0, true, 8.0),
            item(1, true, 4.0),
            item(2, false, 0.0),
            item(3, false, 0.0),
        ];
        let vanilla = TrainParams::default();
        let l = combine(
            &PReNetLoss,
            &out,
            &items,
            &vanilla.weighting(Reduction::WeightedMean),
        );
        assert_eq!(l.value, Some(7.0 / 4.0));
        assert_eq!(l.grad, array![[-0.25f32], [0.25], [0.25], [-0.25]]);
        let ao = TrainParams {
            anoonly: true,
            ..TrainParams::default()
        };
        let w: LossWeighting = ao.weighting(Reduction::WeightedMean);
        let l = combine(&PReNetLoss, &out, &items, &w);
        assert_eq!(l.value, Some(1.5));
        assert_eq!(l.grad, array![[-0.5f32], [0.5], [0.0], [0.0]]);
    }

    #[test]
    fn sampler_with_replacement_draws_from_few_unlabeled_rows() {
        let anomalies: Vec<usize> = (0..3).collect();
        let unlabeled: Vec<usize> = (100..110).collect();
        let mut rng = component_rng(5, "t");
        let pairs = sample_pairs(&anomalies, &unlabeled, 512, 8.0, 4.0, true, &mut rng);
        assert_eq!(pairs.len(), 512);
        let count = |k: PairKind| pairs.iter().filter(|p| p.kind == k).count();
        assert_eq!(count(PairKind::AnomalyAnomaly), 128);
        assert_eq!(count(PairKind::AnomalyUnlabeled), 128);
        assert_eq!(count(PairKind::UnlabeledUnlabeled), 256);
        // Every unlabeled side comes from the 10 rows, and each of them is drawn.
        let mut seen: Vec<usize> = pairs
            .iter()
            .flat_map(|p| match p.kind {
                PairKind::AnomalyAnomaly => vec![],
                PairKind::AnomalyUnlabeled => vec![p.right],
                PairKind::UnlabeledUnlabeled => vec![p.left, p.right],
            })
            .collect();
        assert!(seen.iter().all(|i| (100..110).contains(i)));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn sampler_composition_targets_and_sides() {
        let anomalies: Vec<usize> = (0..5).collect();
        let unlabeled: Vec<usize> = (100..400).collect();
        let mut rng = component_rng(4, "t");
        let pairs = sample_pairs(&anomalies, &unlabeled, 512, 8.0, 4.0, false, &mut rng);
        assert_eq!(pairs.len(), 512);
        let is_a = |i: usize| i < 5;
        let count = |k: PairKind| pairs.iter().filter(|p| p.kind == k).count();
        assert_eq!(count(PairKind::AnomalyAnomaly), 128);
        assert_eq!(count(PairKind::AnomalyUnlabeled), 128);
        assert_eq!(count(PairKind::UnlabeledUnlabeled), 256);
        for p in &pairs {
            match p.kind {
                PairKind::AnomalyAnomaly => {
                    assert!(is_a(p.left) && is_a(p.right));
                    assert_eq!(p.target, 8.0);
                }
                PairKind::AnomalyUnlabeled => {
                    assert!(is_a(p.left) && !is_a(p.right), "anomaly on the left");
                    assert_eq!(p.target, 4.0);
                }
                PairKind::UnlabeledUnlabeled => {
                    assert!(!is_a(p.left) && !is_a(p.right));
                    assert_eq!(p.target, 0.0);
                }
            }
        }
        // Without replacement within each unlabeled part: the right sides of the (u,u)
        // pairs are distinct, and so are those of the (a,u) pairs.
        for kind in [PairKind::UnlabeledUnlabeled, PairKind::AnomalyUnlabeled] {
            let mut r: Vec<usize> = pairs
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| p.right)
                .collect();
            let n = r.len();
            r.sort_unstable();
            r.dedup();
            assert_eq!(r.len(), n, "{kind:?}");
        }
        let mut l: Vec<usize> = pairs
            .iter()
            .filter(|p| p.kind == PairKind::UnlabeledUnlabeled)
            .map(|p| p.left)
            .collect();
        l.sort_unstable();
        l.dedup();
        assert_eq!(l.len(), 256);
        // Permuted: the kinds are not in blocks.
        assert!(pairs[..128]
            .iter()
            .any(|p| p.kind != PairKind::AnomalyAnomaly));
        // Items follow the pairs.
        let x = Array2::from_shape_fn((400, 3), |(i, j)| (i * 3 + j) as f32);
        let (input, items) = pair_batch(x.view(), &pairs);
        assert_eq!(input.dim(), (1024, 3));
        for (i, (p, it)) in pairs.iter().zip(&items).enumerate() {
            assert_eq!(it.index, i);
            assert_eq!(it.anomaly, p.kind != PairKind::UnlabeledUnlabeled);
            assert_eq!(it.target, p.target);
            assert_eq!(input[[i, 0]], (p.left * 3) as f32);
            assert_eq!(input[[512 + i, 0]], (p.right * 3) as f32);
        }
    }
}
