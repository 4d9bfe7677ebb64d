//! The AnoOnly switch, in one place: how a method's per-item normal loss `L_N` and anomaly
//! loss `L_A` are weighted and reduced into the batch loss,
//! `L = lambda_n * L_N + L_A` (paper eq. 1 and 3).
//!
//! Methods declare `L_N` and `L_A` for one item (an output row and its gradient) through
//! [`SsadLoss`]; [`combine`] does the rest. No method contains an AnoOnly branch of its own.

use ndarray::{Array2, ArrayView1, ArrayViewMut1};

use crate::nn::{par, pool};
use serde::{Deserialize, Serialize};

/// One training item of a batch as the loss sees it: its position in the batch, whether
/// it carries the anomaly loss, and a per-item target (PReNet's pair targets; 0 elsewhere).
#[derive(Clone, Copy, Debug)]
pub struct Item {
    pub index: usize,
    pub anomaly: bool,
    pub target: f32,
}

/// Per-item losses declared by a method. Each returns the loss value of one item and
/// writes its gradient with respect to that item's output row into `grad`.
pub trait SsadLoss {
    /// `L_N` for an unlabeled (normal) item.
    fn normal(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32;
    /// `L_A` for a labeled anomaly.
    fn anomaly(&self, item: Item, out: ArrayView1<f32>, grad: ArrayViewMut1<f32>) -> f32;
}

/// How the weighted item losses become a batch mean. Both give exactly the vanilla method
/// at `lambda_n = 1`; they differ, as the authors' code does, at `lambda_n = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reduction {
    /// `(lambda_n * sum_N l_n + sum_A l_a) / (lambda_n * b + (1 - lambda_n) * max(|A|, 1))`
    /// for a batch of `b` items, `|A|` of them anomalies. At `lambda_n = 1` the plain batch
    /// mean; at `lambda_n = 0` the mean over the anomalies only (DeepSAD's and PReNet's
    /// AnoOnly code: `mean` of the anomaly terms); with `|A| >= 1` the denominator is
    /// `lambda_n * |N| + |A|`. The `max(|A|, 1)` matters for batches without anomaly only:
    /// there the loss is `lambda_n * sum_N l_n / (lambda_n * b + 1 - lambda_n)`, which goes
    /// to 0 with `lambda_n`, so every batch's loss is continuous in `lambda_n` (paper Fig. 7).
    /// The plain `lambda_n * |N| + |A|` would give such a batch the full mean of `L_N` for
    /// every `lambda_n > 0` (the weight cancels), and a sweep down to 1e-6 would still train
    /// on normals at full strength on those batches (about half of CIFAR10's batches of 128
    /// at gamma_la 0.1). A batch without anomaly at `lambda_n = 0` has no loss: gradient zero,
    /// value `None` (the authors' code gets NaN there).
    WeightedMean,
    /// `(lambda_n * sum_N l_n + sum_A l_a) / b`: Keras's mean over the whole batch, where
    /// normal rows contribute 0 under AnoOnly (DevNet, FEAWAD).
    BatchMean,
    /// `lambda_n * mean_N l_n + mean_A l_a`: one mean per class, a class absent from the
    /// batch contributing nothing (WSAD-DT's `loss_normal + loss_abnormal`, whose empty mean
    /// the authors' code replaces by 0). A batch without anomaly at `lambda_n = 0` has no
    /// loss; without anomaly at `lambda_n > 0` its loss is `lambda_n * mean_N l_n`, which
    /// goes to 0 with `lambda_n`.
    ClassMeans,
}

/// The loss weighting of a training run: the switch between the vanilla method
/// (`lambda_n = 1`) and AnoOnly (`lambda_n = 0`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossWeighting {
    pub lambda_n: f32,
    pub reduction: Reduction,
}

/// Result of [`combine`].
#[derive(Clone, Debug)]
pub struct BatchLoss {
    /// The batch loss, `None` when no item carries weight (AnoOnly on a batch without
    /// labeled anomaly).
    pub value: Option<f32>,
    /// dL/d(output), same shape as the output.
    pub grad: Array2<f32>,
}

/// Weighted batch loss and its gradient with respect to the network output `out`
/// (one row per item). `L_N` is not evaluated at all when `lambda_n = 0`.
pub fn combine(
    loss: &dyn SsadLoss,
    out: &Array2<f32>,
    items: &[Item],
    weighting: &LossWeighting,
) -> BatchLoss {
    debug_assert_eq!(out.nrows(), items.len());
    let lambda_n = weighting.lambda_n;
    // A recycled buffer (nn::pool): the training core hands it back after the backward pass.
    let mut grad = pool::zeros(out.nrows(), out.ncols());
    let mut total = 0.0f64;
    let n_anomaly = items.iter().filter(|it| it.anomaly).count();
    let denominator = match weighting.reduction {
        Reduction::WeightedMean if lambda_n == 0.0 && n_anomaly == 0 => 0.0,
        Reduction::WeightedMean => {
            let l = f64::from(lambda_n);
            l * items.len() as f64 + (1.0 - l) * n_anomaly.max(1) as f64
        }
        Reduction::BatchMean => items.len() as f64,
        Reduction::ClassMeans => return class_means(loss, out, items, lambda_n),
    };
    if denominator <= 0.0 {
        return BatchLoss { value: None, grad };
    }
    for item in items {
        let row = out.row(item.index);
        let g = grad.row_mut(item.index);
        if item.anomaly {
            total += f64::from(loss.anomaly(*item, row, g));
        } else if lambda_n != 0.0 {
            let v = loss.normal(*item, row, g);
            total += f64::from(lambda_n) * f64::from(v);
            if lambda_n != 1.0 {
                grad.row_mut(item.index).mapv_inplace(|x| x * lambda_n);
            }
        }
    }
    let scale = (1.0 / denominator) as f32;
    match grad.as_slice_mut() {
        Some(g) => par::rows_mut(g, 1, |_, g| {
            for x in g {
                *x *= scale;
            }
        }),
        None => grad.mapv_inplace(|x| x * scale),
    }
    BatchLoss {
        value: Some((total / denominator) as f32),
        grad,
    }
}

/// [`combine`] under [`Reduction::ClassMeans`].
fn class_means(loss: &dyn SsadLoss, out: &Array2<f32>, items: &[Item], lambda_n: f32) -> BatchLoss {
    let mut grad = Array2::<f32>::zeros(out.raw_dim());
    let n_anomaly = items.iter().filter(|it| it.anomaly).count();
    let n_normal = if lambda_n == 0.0 {
        0
    } else {
        items.len() - n_anomaly
    };
    if n_anomaly == 0 && n_normal == 0 {
        return BatchLoss { value: None, grad };
    }
    let scale_a = 1.0 / n_anomaly.max(1) as f32;
    let scale_n = lambda_n / n_normal.max(1) as f32;
    let (mut sum_a, mut sum_n) = (0.0f64, 0.0f64);
    for item in items {
        let row = out.row(item.index);
        if item.anomaly {
            sum_a += f64::from(loss.anomaly(*item, row, grad.row_mut(item.index)));
            grad.row_mut(item.index).mapv_inplace(|g| g * scale_a);
        } else if n_normal > 0 {
            sum_n += f64::from(loss.normal(*item, row, grad.row_mut(item.index)));
            grad.row_mut(item.index).mapv_inplace(|g| g * scale_n);
        }
    }
    let mut value = sum_a / n_anomaly.max(1) as f64;
    if n_normal > 0 {
        value += f64::from(lambda_n) * sum_n / n_normal as f64;
    }
    BatchLoss {
        value: Some(value as f32),
        grad,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// L_N = out, L_A = 10 * out (one-column outputs), gradients 1 and 10.
    struct Toy;
    impl SsadLoss for Toy {
        fn normal(&self, _: Item, out: ArrayView1<f32>, mut g: ArrayViewMut1<f32>) -> f32 {
            g[0] = 1.0;
            out[0]
        }
        fn anomaly(&self, _: Item, out: ArrayView1<f32>, mut g: ArrayViewMut1<f32>) -> f32 {
            g[0] = 10.0;
            10.0 * out[0]
        }
    }

    fn items(flags: &[bool]) -> Vec<Item> {
        flags
            .iter()
            .enumerate()
            .map(|(index, &anomaly)| Item {
                index,
                anomaly,
                target: 0.0,
            })
            .collect()
    }

    #[test]
    fn lambda_one_is_the_plain_batch_mean() {
        let out = array![[1.0f32], [2.0], [3.0], [4.0]];
        let it = items(&[false, false, true, false]);
        for reduction in [Reduction::WeightedMean, Reduction::BatchMean] {
            let w = LossWeighting {
                lambda_n: 1.0,
                reduction,
            };
            let l = combine(&Toy, &out, &it, &w);
            // (1 + 2 + 30 + 4) / 4
            assert_eq!(l.value, Some(37.0 / 4.0));
            assert_eq!(l.grad, array![[0.25f32], [0.25], [2.5], [0.25]]);
        }
    }

    #[test]
    fn lambda_zero_weighted_mean_is_the_mean_over_anomalies() {
        let out = array![[1.0f32], [2.0], [3.0], [4.0]];
        let it = items(&[false, true, true, false]);
        let w = LossWeighting {
            lambda_n: 0.0,
            reduction: Reduction::WeightedMean,
        };
        let l = combine(&Toy, &out, &it, &w);
        assert_eq!(l.value, Some((20.0 + 30.0) / 2.0));
        assert_eq!(l.grad, array![[0.0f32], [5.0], [5.0], [0.0]]);
    }

    #[test]
    fn lambda_zero_batch_mean_divides_by_the_batch() {
        let out = array![[1.0f32], [2.0], [3.0], [4.0]];
        let it = items(&[false, true, true, false]);
        let w = LossWeighting {
            lambda_n: 0.0,
            reduction: Reduction::BatchMean,
        };
        let l = combine(&Toy, &out, &it, &w);
        assert_eq!(l.value, Some(50.0 / 4.0));
        assert_eq!(l.grad, array![[0.0f32], [2.5], [2.5], [0.0]]);
    }

    #[test]
    fn anomaly_free_batch_under_anoonly_has_no_loss_and_zero_gradient() {
        let out = array![[1.0f32], [2.0]];
        let w = LossWeighting {
            lambda_n: 0.0,
            reduction: Reduction::WeightedMean,
        };
        let l = combine(&Toy, &out, &items(&[false, false]), &w);
        assert_eq!(l.value, None);
        assert!(l.grad.iter().all(|&g| g == 0.0));
    }

    #[test]
    fn anomaly_free_batch_loss_vanishes_with_lambda() {
        let out = array![[1.0f32], [2.0], [3.0]];
        let it = items(&[false, false, false]);
        for (lambda_n, want) in [(1.0f32, 2.0f32), (0.5, 1.5), (1e-6, 6e-6 / 1.000_002)] {
            let w = LossWeighting {
                lambda_n,
                reduction: Reduction::WeightedMean,
            };
            let l = combine(&Toy, &out, &it, &w);
            let v = l.value.unwrap();
            assert!((v - want).abs() <= 1e-6 * want, "{lambda_n}: {v} vs {want}");
        }
    }

    #[test]
    fn class_means_take_one_mean_per_class() {
        let out = array![[1.0f32], [2.0], [3.0], [4.0], [5.0]];
        let it = items(&[false, true, false, false, true]);
        let w = |lambda_n| LossWeighting {
            lambda_n,
            reduction: Reduction::ClassMeans,
        };
        // (1 + 3 + 4) / 3 + (20 + 50) / 2
        let l = combine(&Toy, &out, &it, &w(1.0));
        assert_eq!(l.value, Some((8.0f64 / 3.0 + 35.0) as f32));
        let third = 1.0f32 / 3.0;
        assert_eq!(l.grad, array![[third], [5.0], [third], [third], [5.0]]);
        // lambda_n = 0.5 halves the normal mean; 0 drops it.
        let l = combine(&Toy, &out, &it, &w(0.5));
        assert_eq!(l.value, Some((4.0f64 / 3.0 + 35.0) as f32));
        let l = combine(&Toy, &out, &it, &w(0.0));
        assert_eq!(l.value, Some(35.0));
        assert_eq!(l.grad, array![[0.0f32], [5.0], [0.0], [0.0], [5.0]]);
        // A class absent from the batch contributes nothing; no anomaly at lambda_n = 0:
        // no loss.
        let normals = items(&[false, false, false, false, false]);
        assert_eq!(combine(&Toy, &out, &normals, &w(1.0)).value, Some(3.0));
        assert_eq!(combine(&Toy, &out, &normals, &w(0.25)).value, Some(0.75));
        let l = combine(&Toy, &out, &normals, &w(0.0));
        assert_eq!(l.value, None);
        assert!(l.grad.iter().all(|&g| g == 0.0));
        let anomalies = items(&[true, true, true, true, true]);
        assert_eq!(combine(&Toy, &out, &anomalies, &w(1.0)).value, Some(30.0));
    }

    #[test]
    fn intermediate_lambda_weights_normals() {
        let out = array![[1.0f32], [2.0], [3.0]];
        let it = items(&[false, false, true]);
        let w = LossWeighting {
            lambda_n: 0.5,
            reduction: Reduction::WeightedMean,
        };
        let l = combine(&Toy, &out, &it, &w);
        // (0.5 * (1 + 2) + 30) / (0.5 * 2 + 1) = 31.5 / 2
        assert_eq!(l.value, Some(15.75));
        assert_eq!(l.grad, array![[0.25f32], [0.25], [5.0]]);
    }
}
