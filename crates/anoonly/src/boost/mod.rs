//! Gradient-boosted regression trees for binary classification with XGBoost's semantics
//! (Chen & Guestrin 2016) for the settings XGBOD uses: `binary:logistic`, depth-wise trees
//! grown to `max_depth`, exact greedy split finding over every distinct feature value with
//! the split threshold halfway between neighbouring values (XGBoost's `exact` updater), split
//! gain `G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)` (with L1 soft-thresholding of `G` by α),
//! a split kept when its gain exceeds 1e-6 and both children have hessian ≥
//! `min_child_weight`, then pruned when the gain is below `gamma`; leaf value
//! `−G/(H+λ)·η` (0 for a node whose H is below `min_child_weight`, as XGBoost's
//! `CalcWeight`), prediction `sigmoid(logit(base_score) + Σ leaves)`.
//!
//! Why our own: hessboost needs Rust 1.93 (our MSRV is 1.80) and brings its own model
//! format; forust-ml only finds splits on histograms (XGBoost's `hist`, not `exact`). A
//! depth-3 booster is ~300 lines, deterministic (no sampling at subsample = colsample = 1)
//! and its trees are plain arrays that fit our safetensors model file. Row and column
//! subsampling are not implemented (XGBOD uses 1).

use ndarray::{Array1, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::vocab::tensor::{load_vec_any, NamedTensor, StateError};
use crate::vocab::{count_in, non_negative, positive, ParamError};

/// A fitted classifier that scores rows (the small trait XGBOD's classifier sits behind).
pub trait Booster {
    /// Probability of class 1 per row.
    fn predict_proba(&self, x: ArrayView2<f32>) -> Array1<f32>;
}

/// XGBoost's parameters (defaults: XGBOD's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GbtParams {
    pub max_depth: usize,
    pub learning_rate: f32,
    pub n_estimators: usize,
    /// Minimum loss reduction to keep a split (`min_split_loss`).
    pub gamma: f32,
    pub min_child_weight: f32,
    pub reg_alpha: f32,
    pub reg_lambda: f32,
    pub base_score: f32,
}

impl Default for GbtParams {
    fn default() -> Self {
        GbtParams {
            max_depth: 3,
            learning_rate: 0.1,
            n_estimators: 100,
            gamma: 0.0,
            min_child_weight: 1.0,
            reg_alpha: 0.0,
            reg_lambda: 1.0,
            base_score: 0.5,
        }
    }
}

impl GbtParams {
    /// Checks every parameter's range, naming the field.
    pub fn validate(&self) -> Result<(), ParamError> {
        count_in("max_depth", self.max_depth, 1, 30)?;
        positive("learning_rate", self.learning_rate)?;
        count_in("n_estimators", self.n_estimators, 1, 100_000)?;
        non_negative("gamma", self.gamma)?;
        non_negative("min_child_weight", self.min_child_weight)?;
        non_negative("reg_alpha", self.reg_alpha)?;
        non_negative("reg_lambda", self.reg_lambda)?;
        if !(self.base_score > 0.0 && self.base_score < 1.0) {
            return Err(ParamError::new(
                "base_score",
                self.base_score,
                "must lie in (0, 1)",
            ));
        }
        Ok(())
    }
}

/// XGBoost's `kRtEps`: the smallest gain that counts as a split.
const RT_EPS: f64 = 1e-6;
/// Marks a leaf in [`TreeNode::feature`].
pub const LEAF: u32 = u32::MAX;

/// One node; leaves carry `value`, splits send `x[feature] < threshold` left.
#[derive(Clone, Debug, PartialEq)]
pub struct TreeNode {
    pub feature: u32,
    pub threshold: f32,
    pub left: u32,
    pub right: u32,
    pub value: f32,
}

/// A fitted ensemble: node lists per tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Gbt {
    pub base_margin: f32,
    pub trees: Vec<Vec<TreeNode>>,
}

/// Per-round training report: the round and the mean log-loss on the training rows before
/// it; `Err` stops the fit before the round.
pub type RoundObserver<'a> = &'a mut dyn FnMut(usize, f32) -> Result<(), ()>;

fn soft_threshold(g: f64, alpha: f64) -> f64 {
    if g > alpha {
        g - alpha
    } else if g < -alpha {
        g + alpha
    } else {
        0.0
    }
}

/// A row's open node (slot) and its gradient statistics.
struct RowStat {
    slot: u32,
    g: f64,
    h: f64,
}

/// Left-side sums of one open node during a column scan.
#[derive(Clone, Copy, Default)]
struct Acc {
    gl: f64,
    hl: f64,
    last: f32,
    seen: bool,
}

struct Split {
    gain: f64,
    feature: usize,
    threshold: f32,
}

fn sigmoid(m: f32) -> f32 {
    1.0 / (1.0 + (-m).exp())
}

impl Gbt {
    /// Fits on rows `x` with labels `y` (0/1).
    pub fn fit(p: &GbtParams, x: ArrayView2<f32>, y: ArrayView1<u8>) -> Gbt {
        let mut go_on = |_, _| Ok(());
        Gbt::fit_observed(p, x, y, &mut go_on).unwrap_or_else(|| Gbt {
            base_margin: 0.0,
            trees: Vec::new(),
        })
    }

    /// [`Gbt::fit`] reporting each round to `observer`; `None` when it stopped the fit.
    pub fn fit_observed(
        p: &GbtParams,
        x: ArrayView2<f32>,
        y: ArrayView1<u8>,
        observer: RoundObserver<'_>,
    ) -> Option<Gbt> {
        let (n, d) = x.dim();
        let base = f64::from(p.base_score);
        let base_margin = (base / (1.0 - base)).ln() as f32;
        // Each column's rows sorted by value (exact greedy scans them in order).
        let sorted: Vec<Vec<(f32, u32)>> = (0..d)
            .map(|j| {
                let mut c: Vec<(f32, u32)> = x
                    .column(j)
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (v, i as u32))
                    .collect();
                c.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                c
            })
            .collect();
        let mut margin = vec![base_margin; n];
        let mut trees = Vec::with_capacity(p.n_estimators);
        let mut grad = vec![0.0f64; n];
        let mut hess = vec![0.0f64; n];
        for round in 0..p.n_estimators {
            let mut loss = 0.0f64;
            for i in 0..n {
                let pr = f64::from(sigmoid(margin[i]));
                let t = f64::from(y[i]);
                grad[i] = pr - t;
                hess[i] = (pr * (1.0 - pr)).max(1e-16);
                let pc = pr.clamp(1e-7, 1.0 - 1e-7);
                loss -= t * pc.ln() + (1.0 - t) * (1.0 - pc).ln();
            }
            observer(round, (loss / n as f64) as f32).ok()?;
            let tree = grow_tree(p, x, &sorted, &grad, &hess);
            for (i, m) in margin.iter_mut().enumerate() {
                *m += leaf_value(&tree, x.row(i));
            }
            trees.push(tree);
        }
        Some(Gbt { base_margin, trees })
    }

    /// Raw margins (log-odds).
    pub fn margin(&self, x: ArrayView2<f32>) -> Array1<f32> {
        Array1::from_shape_fn(x.nrows(), |i| {
            let row = x.row(i);
            self.trees
                .iter()
                .fold(self.base_margin, |m, t| m + leaf_value(t, row))
        })
    }

    /// Tensors `{prefix}feature|threshold|left|right|value` over all nodes, and
    /// `{prefix}tree_sizes` (nodes per tree) and `{prefix}base_margin`.
    pub fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        let all: Vec<&TreeNode> = self.trees.iter().flatten().collect();
        let field = |name: &str, f: &dyn Fn(&TreeNode) -> f32| {
            NamedTensor::new(
                format!("{prefix}{name}"),
                vec![all.len()],
                all.iter().map(|n| f(n)).collect(),
            )
        };
        out.push(field("feature", &|n| {
            if n.feature == LEAF {
                -1.0
            } else {
                n.feature as f32
            }
        }));
        out.push(field("threshold", &|n| n.threshold));
        out.push(field("left", &|n| n.left as f32));
        out.push(field("right", &|n| n.right as f32));
        out.push(field("value", &|n| n.value));
        out.push(NamedTensor::new(
            format!("{prefix}tree_sizes"),
            vec![self.trees.len()],
            self.trees.iter().map(|t| t.len() as f32).collect(),
        ));
        out.push(NamedTensor::new(
            format!("{prefix}base_margin"),
            vec![1],
            vec![self.base_margin],
        ));
    }

    /// Rebuilds from [`Gbt::state`], checking every index (rows of `d` features).
    pub fn from_state(prefix: &str, d: usize, tensors: &[NamedTensor]) -> Result<Gbt, StateError> {
        let get = |name: &str| -> Result<Vec<f32>, StateError> {
            Ok(load_vec_any(tensors, &format!("{prefix}{name}"))?.to_vec())
        };
        let bad = |name: &str, expected: usize, found: f32| StateError::Shape {
            name: format!("{prefix}{name}"),
            expected: vec![expected],
            found: vec![found.max(0.0) as usize],
        };
        let feature = get("feature")?;
        let threshold = get("threshold")?;
        let left = get("left")?;
        let right = get("right")?;
        let value = get("value")?;
        let sizes = get("tree_sizes")?;
        let base_margin = get("base_margin")?;
        let m = feature.len();
        for (name, v) in [
            ("threshold", &threshold),
            ("left", &left),
            ("right", &right),
            ("value", &value),
        ] {
            if v.len() != m {
                return Err(bad(name, m, v.len() as f32));
            }
        }
        if base_margin.len() != 1 {
            return Err(bad("base_margin", 1, base_margin.len() as f32));
        }
        let mut trees = Vec::with_capacity(sizes.len());
        let mut start = 0usize;
        for &s in &sizes {
            if s < 1.0 || s.fract() != 0.0 || start + s as usize > m {
                return Err(bad("tree_sizes", m - start, s));
            }
            let len = s as usize;
            let mut tree = Vec::with_capacity(len);
            for i in start..start + len {
                let local = i - start;
                let leaf = feature[i] < 0.0;
                // Children follow their parent inside the same tree.
                let child = |name: &str, v: f32| {
                    if leaf || (v.fract() == 0.0 && v as usize > local && (v as usize) < len) {
                        Ok(v as u32)
                    } else {
                        Err(bad(name, len, v))
                    }
                };
                let feat = if leaf {
                    LEAF
                } else if feature[i].fract() == 0.0 && (feature[i] as usize) < d {
                    feature[i] as u32
                } else {
                    return Err(bad("feature", d, feature[i]));
                };
                tree.push(TreeNode {
                    feature: feat,
                    threshold: threshold[i],
                    left: if leaf { 0 } else { child("left", left[i])? },
                    right: if leaf { 0 } else { child("right", right[i])? },
                    value: value[i],
                });
            }
            trees.push(tree);
            start += len;
        }
        if start != m {
            return Err(bad("tree_sizes", m, start as f32));
        }
        Ok(Gbt {
            base_margin: base_margin[0],
            trees,
        })
    }
}

impl Booster for Gbt {
    fn predict_proba(&self, x: ArrayView2<f32>) -> Array1<f32> {
        self.margin(x).mapv(sigmoid)
    }
}

fn leaf_value(tree: &[TreeNode], row: ArrayView1<f32>) -> f32 {
    let mut node = &tree[0];
    while node.feature != LEAF {
        let next = if row[node.feature as usize] < node.threshold {
            node.left
        } else {
            node.right
        };
        node = &tree[next as usize];
    }
    node.value
}

/// Grows one tree depth by depth on gradients `g` and hessians `h`.
fn grow_tree(
    p: &GbtParams,
    x: ArrayView2<f32>,
    sorted: &[Vec<(f32, u32)>],
    g: &[f64],
    h: &[f64],
) -> Vec<TreeNode> {
    let n = g.len();
    let (alpha, lambda) = (f64::from(p.reg_alpha), f64::from(p.reg_lambda));
    let mcw = f64::from(p.min_child_weight);
    // XGBoost's CalcGain / CalcWeight: a node lighter than min_child_weight has gain and
    // weight 0.
    let gain_of = |gs: f64, hs: f64| {
        if hs < mcw || hs <= 0.0 {
            return 0.0;
        }
        let t = soft_threshold(gs, alpha);
        t * t / (hs + lambda)
    };
    let weight_of = |gs: f64, hs: f64| {
        if hs < mcw || hs <= 0.0 {
            return 0.0;
        }
        -soft_threshold(gs, alpha) / (hs + lambda)
    };
    let leaf = |value: f64| TreeNode {
        feature: LEAF,
        threshold: 0.0,
        left: 0,
        right: 0,
        value: (value * f64::from(p.learning_rate)) as f32,
    };
    // position[i]: the open node of row i, or usize::MAX once its node is a leaf.
    let mut position = vec![0usize; n];
    let mut nodes = vec![leaf(0.0)];
    let mut open = vec![0usize];
    for depth in 0..=p.max_depth {
        // Sums per open node (slot = index in `open`).
        let slot_of: std::collections::HashMap<usize, usize> =
            open.iter().enumerate().map(|(s, &id)| (id, s)).collect();
        let mut sum_g = vec![0.0f64; open.len()];
        let mut sum_h = vec![0.0f64; open.len()];
        for i in 0..n {
            if let Some(&s) = slot_of.get(&position[i]) {
                sum_g[s] += g[i];
                sum_h[s] += h[i];
            }
        }
        let mut best: Vec<Option<Split>> = (0..open.len()).map(|_| None).collect();
        if depth < p.max_depth {
            // Packed per-row state and per-node accumulators: the scan below is the
            // booster's hot loop (rows × features × levels × trees).
            let rows: Vec<RowStat> = position
                .iter()
                .zip(g.iter().zip(h))
                .map(|(pos, (&g, &h))| RowStat {
                    slot: slot_of.get(pos).map_or(u32::MAX, |&s| s as u32),
                    g,
                    h,
                })
                .collect();
            let root_gain: Vec<f64> = (0..open.len())
                .map(|s| gain_of(sum_g[s], sum_h[s]))
                .collect();
            // Children in the scan have H ≥ min_child_weight, so their gain is the plain
            // formula; `best_gain` starts at XGBoost's kRtEps.
            let child_gain = |gs: f64, hs: f64| {
                let t = soft_threshold(gs, alpha);
                t * t / (hs + lambda)
            };
            let totals: Vec<(f64, f64, f64)> = (0..open.len())
                .map(|s| (sum_g[s], sum_h[s], root_gain[s]))
                .collect();
            let mut best_gain = vec![RT_EPS; open.len()];
            let mut acc = vec![Acc::default(); open.len()];
            for (f, col) in sorted.iter().enumerate() {
                acc.iter_mut().for_each(|a| *a = Acc::default());
                for &(v, r) in col {
                    let row = &rows[r as usize];
                    if row.slot == u32::MAX {
                        continue;
                    }
                    let s = row.slot as usize;
                    let a = &mut acc[s];
                    if a.seen && v != a.last && a.hl >= mcw {
                        let (tg, th, root) = totals[s];
                        let (gr, hr) = (tg - a.gl, th - a.hl);
                        if hr >= mcw {
                            let chg = child_gain(a.gl, a.hl) + child_gain(gr, hr) - root;
                            if chg > best_gain[s] {
                                best_gain[s] = chg;
                                best[s] = Some(Split {
                                    gain: chg,
                                    feature: f,
                                    threshold: (v + a.last) * 0.5,
                                });
                            }
                        }
                    }
                    a.gl += row.g;
                    a.hl += row.h;
                    a.last = v;
                    a.seen = true;
                }
            }
        }
        let mut next_open = Vec::new();
        for (s, &id) in open.iter().enumerate() {
            match best[s].take() {
                Some(split) if split.gain >= f64::from(p.gamma) => {
                    let left = nodes.len();
                    nodes.push(leaf(0.0));
                    nodes.push(leaf(0.0));
                    nodes[id] = TreeNode {
                        feature: split.feature as u32,
                        threshold: split.threshold,
                        left: left as u32,
                        right: left as u32 + 1,
                        value: 0.0,
                    };
                    next_open.push(left);
                    next_open.push(left + 1);
                }
                _ => nodes[id] = leaf(weight_of(sum_g[s], sum_h[s])),
            }
        }
        for (i, pos) in position.iter_mut().enumerate() {
            if *pos == usize::MAX {
                continue;
            }
            let node = &nodes[*pos];
            *pos = if node.feature == LEAF {
                usize::MAX
            } else if x[[i, node.feature as usize]] < node.threshold {
                node.left as usize
            } else {
                node.right as usize
            };
        }
        if next_open.is_empty() {
            break;
        }
        open = next_open;
    }
    nodes
}
