//! Isolation forest (Liu, Ting & Zhou 2008) in scikit-learn's form: each tree sees
//! `ψ = min(256, n)` rows drawn without replacement and grows to depth `⌈log2 ψ⌉`; a node
//! draws features uniformly until one is not constant on its rows and splits at a uniform
//! threshold in `[min, max)`, rows `≤ threshold` going left. A row's path length is its leaf
//! depth plus `c(leaf size)`; the score is `2^(−E[h]/c(ψ))` (scikit-learn's `−score_samples`).
//!
//! Why one forest for the grid: scikit-learn seeds tree `t` from the `t`-th draw of the
//! forest's generator, so with a fixed `random_state` the 10-tree forest is the first 10
//! trees of the 200-tree one. XGBOD's seven forests are therefore prefixes of one forest of
//! 200 trees here too. Departures: our own generator (not NumPy's), and the constant
//! `offset_` PyOD's `decision_function` adds is left out (a constant shift of a feature
//! changes no tree split).

use ndarray::ArrayView2;
use rand::seq::index::sample;
use rand::Rng as _;

use crate::rng::Rng;
use crate::vocab::tensor::{find_finite, index_of, load_exact, NamedTensor, StateError};

/// Average path length of an unsuccessful BST search among `n` points:
/// `c(n) = 2 H(n−1) − 2(n−1)/n`, `H(i) ≈ ln i + γ` (scikit-learn's `_average_path_length`).
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let m = (n - 1) as f64;
            2.0 * (m.ln() + 0.577_215_664_901_532_9) - 2.0 * m / n as f64
        }
    }
}

/// One node of an isolation tree; leaves have `feature == LEAF`.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub feature: u32,
    pub threshold: f32,
    pub left: u32,
    pub right: u32,
    /// Leaves: depth + c(rows in the leaf).
    pub path: f32,
}

pub const LEAF: u32 = u32::MAX;

/// A fitted forest: trees as node ranges of one node list.
#[derive(Clone, Debug, PartialEq)]
pub struct IsolationForest {
    pub nodes: Vec<Node>,
    /// Index of each tree's root in `nodes`.
    pub roots: Vec<u32>,
    /// Rows per tree (ψ).
    pub max_samples: usize,
}

impl IsolationForest {
    pub fn fit(x: ArrayView2<f32>, n_trees: usize, rng: &mut Rng) -> IsolationForest {
        let n = x.nrows();
        let psi = n.min(256);
        let max_depth = (psi.max(2) as f64).log2().ceil() as usize;
        let mut nodes = Vec::new();
        let mut roots = Vec::with_capacity(n_trees);
        for _ in 0..n_trees {
            let rows: Vec<usize> = sample(rng, n, psi).into_vec();
            roots.push(nodes.len() as u32);
            grow(x, rows, 0, max_depth, rng, &mut nodes);
        }
        IsolationForest {
            nodes,
            roots,
            max_samples: psi,
        }
    }

    /// Path length of row `r` in tree `t`.
    pub fn path_length(&self, t: usize, row: ndarray::ArrayView1<f32>) -> f32 {
        let mut node = &self.nodes[self.roots[t] as usize];
        while node.feature != LEAF {
            let next = if row[node.feature as usize] <= node.threshold {
                node.left
            } else {
                node.right
            };
            node = &self.nodes[next as usize];
        }
        node.path
    }

    /// Scores `2^(−E[h]/c(ψ))` of the forests made of the first `sizes[m]` trees, one column
    /// per size (sizes ascending).
    pub fn scores(&self, x: ArrayView2<f32>, sizes: &[usize]) -> ndarray::Array2<f32> {
        let c = average_path_length(self.max_samples);
        let mut out = ndarray::Array2::zeros((x.nrows(), sizes.len()));
        for (i, row) in x.outer_iter().enumerate() {
            let mut sum = 0.0f64;
            let mut t = 0;
            for (m, &size) in sizes.iter().enumerate() {
                while t < size.min(self.roots.len()) {
                    sum += f64::from(self.path_length(t, row));
                    t += 1;
                }
                let mean = sum / size as f64;
                out[[i, m]] = 2f64.powf(-mean / c) as f32;
            }
        }
        out
    }
}

/// Grows the subtree on `rows` and returns its index in `nodes`.
fn grow(
    x: ArrayView2<f32>,
    rows: Vec<usize>,
    depth: usize,
    max_depth: usize,
    rng: &mut Rng,
    nodes: &mut Vec<Node>,
) -> u32 {
    let id = nodes.len() as u32;
    let leaf = Node {
        feature: LEAF,
        threshold: 0.0,
        left: 0,
        right: 0,
        path: (depth as f64 + average_path_length(rows.len())) as f32,
    };
    nodes.push(leaf);
    if rows.len() <= 1 || depth >= max_depth {
        return id;
    }
    // Draw features without replacement until one varies on these rows.
    let mut features: Vec<usize> = (0..x.ncols()).collect();
    let mut remaining = features.len();
    let split = loop {
        if remaining == 0 {
            break None;
        }
        let pick = rng.gen_range(0..remaining);
        let f = features[pick];
        features.swap(pick, remaining - 1);
        remaining -= 1;
        let (lo, hi) = rows
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &r| {
                (a.min(x[[r, f]]), b.max(x[[r, f]]))
            });
        if hi > lo {
            let mut t = lo + rng.gen::<f32>() * (hi - lo);
            if t >= hi {
                t = lo;
            }
            break Some((f, t));
        }
    };
    let Some((f, t)) = split else {
        return id;
    };
    let (left_rows, right_rows): (Vec<usize>, Vec<usize>) =
        rows.iter().partition(|&&r| x[[r, f]] <= t);
    let left = grow(x, left_rows, depth + 1, max_depth, rng, nodes);
    let right = grow(x, right_rows, depth + 1, max_depth, rng, nodes);
    nodes[id as usize] = Node {
        feature: f as u32,
        threshold: t,
        left,
        right,
        path: 0.0,
    };
    id
}

impl IsolationForest {
    /// The forest as named tensors `{prefix}feature|threshold|left|right|path` (one value per
    /// node, indices as exact f32 integers, `-1` for a leaf's feature), `{prefix}roots` and
    /// `{prefix}max_samples`.
    pub fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        let nodes = &self.nodes;
        let mut field = |name: &str, f: &dyn Fn(&Node) -> f32| {
            let data = nodes.iter().map(f).collect();
            out.push(NamedTensor::new(
                format!("{prefix}{name}"),
                vec![nodes.len()],
                data,
            ));
        };
        field("feature", &|n| {
            if n.feature == LEAF {
                -1.0
            } else {
                n.feature as f32
            }
        });
        field("threshold", &|n| n.threshold);
        field("left", &|n| n.left as f32);
        field("right", &|n| n.right as f32);
        field("path", &|n| n.path);
        out.push(NamedTensor::new(
            format!("{prefix}roots"),
            vec![self.roots.len()],
            self.roots.iter().map(|&r| r as f32).collect(),
        ));
        out.push(NamedTensor::new(
            format!("{prefix}max_samples"),
            vec![1],
            vec![self.max_samples as f32],
        ));
    }

    /// Rebuilds a forest of `n_trees` trees on `d` features fitted on `n_train` rows from
    /// [`IsolationForest::state`], checking every index: children come after their parent
    /// (so a traversal always ends), features are below `d`, ψ is at most `min(256, n_train)`.
    pub fn from_state(
        prefix: &str,
        d: usize,
        n_train: usize,
        n_trees: usize,
        tensors: &[NamedTensor],
    ) -> Result<IsolationForest, StateError> {
        let name = |n: &str| format!("{prefix}{n}");
        let m = find_finite(tensors, &name("feature"))?
            .shape
            .first()
            .copied()
            .unwrap_or(0);
        let field = |n: &str| load_exact(tensors, &name(n), &[m]);
        let (feature, threshold, left, right, path) = (
            field("feature")?,
            field("threshold")?,
            field("left")?,
            field("right")?,
            field("path")?,
        );
        let mut nodes = Vec::with_capacity(m);
        for i in 0..m {
            let leaf = feature[i] < 0.0;
            let child = |n: &str, v: f32| -> Result<u32, StateError> {
                let c = index_of(&name(n), v, m)?;
                if !leaf && c <= i {
                    return Err(StateError::Shape {
                        name: name(n),
                        expected: vec![i + 1],
                        found: vec![c],
                    });
                }
                Ok(c as u32)
            };
            nodes.push(Node {
                feature: if leaf {
                    LEAF
                } else {
                    index_of(&name("feature"), feature[i], d)? as u32
                },
                threshold: threshold[i],
                left: child("left", left[i])?,
                right: child("right", right[i])?,
                path: path[i],
            });
        }
        let roots = find_finite(tensors, &name("roots"))?
            .data
            .iter()
            .map(|&v| index_of(&name("roots"), v, m).map(|r| r as u32))
            .collect::<Result<Vec<_>, _>>()?;
        if roots.len() != n_trees {
            return Err(StateError::Shape {
                name: name("roots"),
                expected: vec![n_trees],
                found: vec![roots.len()],
            });
        }
        let max_samples = index_of(
            &name("max_samples"),
            load_exact(tensors, &name("max_samples"), &[1])?[0],
            n_train.min(256) + 1,
        )?
        .max(1);
        Ok(IsolationForest {
            nodes,
            roots,
            max_samples,
        })
    }
}
