//! Optimisers with PyTorch's and Keras's update rules (docs/protocol.md section 2).
//!
//! State is kept per parameter in [`Module::visit_params`] order and initialised lazily on
//! the first step; if a parameter's length changes (a different net was passed), its state
//! is reset. Every update is a plain element-wise loop, so results are deterministic.

use super::{par, Module, ParamMut};

/// Updates a net's parameters from their accumulated gradients.
pub trait Optimizer {
    /// One update with learning rate `lr` (the schedule is applied by the caller).
    fn step(&mut self, net: &mut dyn Module, lr: f32);
}

/// Whose Adam.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdamConvention {
    /// `torch.optim.Adam`: weight decay added to the gradient (L2, not AdamW); update
    /// `w −= lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps)`.
    Torch,
    /// Keras (TF 2.8) `Adam`: `lr_t = lr·√(1−β2^t)/(1−β1^t)`, `w −= lr_t·m/(√v + eps)`:
    /// eps is added to the *uncorrected* √v, so it weighs differently than in torch.
    Keras,
}

#[derive(Clone, Debug, Default)]
struct Moments {
    t: u32,
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Moments {
    fn ensure(&mut self, n: usize) {
        if self.m.len() != n {
            *self = Moments {
                t: 0,
                m: vec![0.0; n],
                v: vec![0.0; n],
            };
        }
    }
}

/// Runs `f(index, param)` over the net's parameters.
fn for_each_param(net: &mut dyn Module, mut f: impl FnMut(usize, ParamMut<'_>)) {
    let mut i = 0;
    net.visit_params(&mut |p| {
        f(i, p);
        i += 1;
    });
}

fn slot<T: Default>(state: &mut Vec<T>, i: usize) -> &mut T {
    if state.len() <= i {
        state.resize_with(i + 1, T::default);
    }
    &mut state[i]
}

/// Defines `$name`, which calls `$kernel` compiled for AVX when the CPU has it (the update
/// loops are element-wise with a division and a square root per weight: 8 lanes instead of
/// SSE2's 4 nearly halve them, a tenth of a DeepSAD step). Rust never contracts `a * b + c`
/// into an FMA, and division and square root are correctly rounded at any width, so both
/// builds give the same bits (tests/nn_optim.rs compares against fixed values).
macro_rules! avx_dispatch {
    ($name:ident, $kernel:ident, ($($p:ident: $t:ty),*)) => {
        fn $name($($p: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx")]
                unsafe fn avx($($p: $t),*) {
                    $kernel($($p),*)
                }
                if std::arch::is_x86_feature_detected!("avx") {
                    // SAFETY: the CPU supports AVX (checked just above).
                    return unsafe { avx($($p),*) };
                }
            }
            $kernel($($p),*)
        }
    };
}

/// torch's Adam update; `c` = `[β1, β2, eps, weight decay, step size, √bias correction 2]`.
#[inline(always)]
fn adam_torch(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: [f32; 6]) {
    let [b1, b2, eps, wd, step_size, bc2_sqrt] = c;
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = if wd != 0.0 { g + wd * *w } else { g };
        *m = b1 * *m + (1.0 - b1) * g;
        *v = b2 * *v + (1.0 - b2) * g * g;
        let denom = v.sqrt() / bc2_sqrt + eps;
        *w -= step_size * *m / denom;
    }
}

/// Keras's Adam update; `c` = `[β1, β2, eps, weight decay, lr_t, unused]`.
#[inline(always)]
fn adam_keras(w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: [f32; 6]) {
    let [b1, b2, eps, wd, lr_t, _] = c;
    for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        let g = if wd != 0.0 { g + wd * *w } else { g };
        *m += (g - *m) * (1.0 - b1);
        *v += (g * g - *v) * (1.0 - b2);
        *w -= lr_t * *m / (v.sqrt() + eps);
    }
}

avx_dispatch!(adam_torch_wide, adam_torch, (w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: [f32; 6]));
avx_dispatch!(adam_keras_wide, adam_keras, (w: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], c: [f32; 6]));

/// The RMSprop update of both conventions; `c` = `[ρ, eps, weight decay, lr]`.
#[inline(always)]
fn rmsprop(w: &mut [f32], g: &[f32], ms: &mut [f32], c: [f32; 4]) {
    let [rho, eps, wd, lr] = c;
    for ((w, &g), s) in w.iter_mut().zip(g).zip(ms.iter_mut()) {
        let g = if wd != 0.0 { g + wd * *w } else { g };
        *s = rho * *s + (1.0 - rho) * g * g;
        *w -= lr * g / (s.sqrt() + eps);
    }
}
avx_dispatch!(rmsprop_wide, rmsprop, (w: &mut [f32], g: &[f32], ms: &mut [f32], c: [f32; 4]));

/// The Adadelta update in TF's order; `c` = `[ρ, ε, lr]`.
#[inline(always)]
fn adadelta(w: &mut [f32], g: &[f32], acc_g: &mut [f32], acc_u: &mut [f32], c: [f32; 3]) {
    let [rho, eps, lr] = c;
    for (((w, &g), ag), au) in w
        .iter_mut()
        .zip(g)
        .zip(acc_g.iter_mut())
        .zip(acc_u.iter_mut())
    {
        *ag = *ag * rho + g * g * (1.0 - rho);
        let u = (*au + eps).sqrt() / (*ag + eps).sqrt() * g;
        *w -= u * lr;
        *au = *au * rho + u * u * (1.0 - rho);
    }
}
avx_dispatch!(adadelta_wide, adadelta, (w: &mut [f32], g: &[f32], acc_g: &mut [f32], acc_u: &mut [f32], c: [f32; 3]));

/// Elements of work per weight of an update, for [`par`]'s threshold (four arrays
/// streamed, a square root and a division).
const UPDATE_WORK: usize = 4;

/// Adam.
#[derive(Clone, Debug)]
pub struct Adam {
    pub convention: AdamConvention,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// L2 coefficient added to the gradient (torch convention only; Keras has none here).
    pub weight_decay: f32,
    state: Vec<Moments>,
}

impl Adam {
    /// `torch.optim.Adam(betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)`.
    pub fn torch(weight_decay: f32) -> Adam {
        Adam {
            convention: AdamConvention::Torch,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            state: Vec::new(),
        }
    }

    /// `tf.keras.optimizers.Adam()` defaults (β 0.9/0.999, epsilon 1e-7).
    pub fn keras() -> Adam {
        Adam {
            convention: AdamConvention::Keras,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-7,
            weight_decay: 0.0,
            state: Vec::new(),
        }
    }
}

impl Optimizer for Adam {
    fn step(&mut self, net: &mut dyn Module, lr: f32) {
        let (b1, b2, eps, wd, conv) = (
            self.beta1,
            self.beta2,
            self.eps,
            self.weight_decay,
            self.convention,
        );
        let state = &mut self.state;
        for_each_param(net, |i, p| {
            let s = slot(state, i);
            s.ensure(p.value.len());
            s.t += 1;
            let t = i32::try_from(s.t).unwrap_or(i32::MAX);
            match conv {
                AdamConvention::Torch => {
                    // Bias corrections in f64 as torch computes them in Python floats.
                    let bc1 = 1.0 - f64::from(b1).powi(t);
                    let bc2 = 1.0 - f64::from(b2).powi(t);
                    let step_size = (f64::from(lr) / bc1) as f32;
                    let bc2_sqrt = bc2.sqrt() as f32;
                    let c = [b1, b2, eps, wd, step_size, bc2_sqrt];
                    let work = UPDATE_WORK * p.value.len();
                    par::zip4_mut(p.value, p.grad, &mut s.m, &mut s.v, work, |w, g, m, v| {
                        adam_torch_wide(w, g, m, v, c)
                    });
                }
                AdamConvention::Keras => {
                    // TF computes the powers and lr_t in the variable's dtype (f32).
                    let b1p = b1.powi(t);
                    let b2p = b2.powi(t);
                    let lr_t = lr * (1.0 - b2p).sqrt() / (1.0 - b1p);
                    let c = [b1, b2, eps, wd, lr_t, 0.0];
                    let work = UPDATE_WORK * p.value.len();
                    par::zip4_mut(p.value, p.grad, &mut s.m, &mut s.v, work, |w, g, m, v| {
                        adam_keras_wide(w, g, m, v, c)
                    });
                }
            }
        });
    }
}

/// `torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm)`: scales every accumulated
/// gradient by `min(1, max_norm / (total + 1e-6))`, where `total` is the L2 norm of all of
/// them together (the norm of the per-parameter norms, as torch stacks them); returns
/// `total`. A non-finite `total` gives a non-finite scale, as in torch (the caller decides
/// whether to step). Sums of squares run in f64 in the visiting order.
pub fn clip_grad_norm(net: &mut dyn Module, max_norm: f32) -> f32 {
    let mut sq = 0.0f64;
    net.visit_params(&mut |p| {
        let own: f64 = p.grad.iter().map(|&g| f64::from(g) * f64::from(g)).sum();
        let norm = own.sqrt() as f32;
        sq += f64::from(norm) * f64::from(norm);
    });
    let total = sq.sqrt() as f32;
    let coef = max_norm / (total + 1e-6);
    // torch clamps the coefficient at 1 and always multiplies; a product by 1 changes no
    // bit, so only a smaller coefficient is applied.
    if coef < 1.0 || coef.is_nan() {
        net.visit_params(&mut |p| p.grad.iter_mut().for_each(|g| *g *= coef));
    }
    total
}

/// Whose RMSprop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RmsPropConvention {
    /// `torch.optim.RMSprop`: `v ← αv + (1−α)g²`, `w −= lr·g/(√v + eps)`, weight decay
    /// added to the gradient.
    Torch,
    /// Keras (TF 2.8) `RMSprop` without momentum: `ms ← ρ·ms + (1−ρ)g²`,
    /// `w −= lr·g/(√ms + eps)`, ms starting at 0.
    Keras,
}

/// RMSprop (no momentum, not centred: the only variant the methods use).
#[derive(Clone, Debug)]
pub struct RmsProp {
    pub convention: RmsPropConvention,
    /// Decay of the running mean square (torch `alpha`, Keras `rho`).
    pub rho: f32,
    pub eps: f32,
    pub weight_decay: f32,
    state: Vec<Vec<f32>>,
}

impl RmsProp {
    /// `torch.optim.RMSprop(alpha=0.99, eps=1e-8, weight_decay=weight_decay)`.
    pub fn torch(weight_decay: f32) -> RmsProp {
        RmsProp {
            convention: RmsPropConvention::Torch,
            rho: 0.99,
            eps: 1e-8,
            weight_decay,
            state: Vec::new(),
        }
    }

    /// `tf.keras.optimizers.RMSprop()` defaults (rho 0.9, epsilon 1e-7).
    pub fn keras() -> RmsProp {
        RmsProp {
            convention: RmsPropConvention::Keras,
            rho: 0.9,
            eps: 1e-7,
            weight_decay: 0.0,
            state: Vec::new(),
        }
    }
}

impl Optimizer for RmsProp {
    fn step(&mut self, net: &mut dyn Module, lr: f32) {
        let (rho, eps, wd) = (self.rho, self.eps, self.weight_decay);
        let state = &mut self.state;
        // Both conventions share the formula; they differ in defaults only.
        for_each_param(net, |i, p| {
            let ms = slot(state, i);
            if ms.len() != p.value.len() {
                *ms = vec![0.0; p.value.len()];
            }
            let work = UPDATE_WORK * p.value.len();
            par::zip3_mut(p.value, p.grad, ms, work, |w, g, ms| {
                rmsprop_wide(w, g, ms, [rho, eps, wd, lr])
            });
        });
    }
}

/// `torch.optim.SGD(lr, momentum, weight_decay)` without dampening or Nesterov: the weight
/// decay is L2 added to the gradient, `g ← g + wd·w`, then `buf ← momentum·buf + g` (the first
/// step sets `buf = g`, which is the same formula from a zero buffer), `w −= lr·buf`.
/// GANomaly uses no weight decay, ADSD 1e-2.
#[derive(Clone, Debug)]
pub struct Sgd {
    pub momentum: f32,
    /// L2 coefficient added to the gradient (torch `weight_decay`; 0 in [`Sgd::torch`]).
    pub weight_decay: f32,
    state: Vec<Vec<f32>>,
}

impl Sgd {
    /// `torch.optim.SGD(momentum=momentum)`, no weight decay.
    pub fn torch(momentum: f32) -> Sgd {
        Sgd {
            momentum,
            weight_decay: 0.0,
            state: Vec::new(),
        }
    }

    /// `torch.optim.SGD(momentum=momentum, weight_decay=weight_decay)`.
    pub fn torch_with_decay(momentum: f32, weight_decay: f32) -> Sgd {
        Sgd {
            weight_decay,
            ..Sgd::torch(momentum)
        }
    }
}

impl Optimizer for Sgd {
    fn step(&mut self, net: &mut dyn Module, lr: f32) {
        let (m, wd) = (self.momentum, self.weight_decay);
        let state = &mut self.state;
        for_each_param(net, |i, p| {
            let buf = slot(state, i);
            if buf.len() != p.value.len() {
                *buf = vec![0.0; p.value.len()];
            }
            let work = UPDATE_WORK * p.value.len();
            par::zip3_mut(p.value, p.grad, buf, work, |w, g, buf| {
                for ((w, &g), b) in w.iter_mut().zip(g).zip(buf.iter_mut()) {
                    let g = if wd != 0.0 { g + wd * *w } else { g };
                    *b = m * *b + g;
                    *w -= lr * *b;
                }
            });
        });
    }
}

#[derive(Clone, Debug, Default)]
struct Accumulators {
    grad: Vec<f32>,
    update: Vec<f32>,
}

/// Keras (TF 2.8) `Adadelta` (REPEN's `'adadelta'`; defaults lr 0.001, rho 0.95, epsilon
/// 1e-7), in the order of TF's `ResourceApplyAdadelta` kernel:
/// `acc_g ← ρ·acc_g + (1−ρ)g²`; `u = √(acc_u + ε)/√(acc_g + ε) · g`; `w −= lr·u`;
/// `acc_u ← ρ·acc_u + (1−ρ)u²`. With lr 0.001 the first steps move each weight by about
/// `lr·√ε/√(1−ρ)` ≈ 1.4e-6: REPEN as the paper ran it learns very slowly.
#[derive(Clone, Debug)]
pub struct Adadelta {
    pub rho: f32,
    pub eps: f32,
    state: Vec<Accumulators>,
}

impl Adadelta {
    /// `tf.keras.optimizers.Adadelta()` defaults except the learning rate, which the caller
    /// passes to [`Optimizer::step`] (Keras default 0.001).
    pub fn keras() -> Adadelta {
        Adadelta {
            rho: 0.95,
            eps: 1e-7,
            state: Vec::new(),
        }
    }
}

impl Optimizer for Adadelta {
    fn step(&mut self, net: &mut dyn Module, lr: f32) {
        let (rho, eps) = (self.rho, self.eps);
        let state = &mut self.state;
        for_each_param(net, |i, p| {
            let s = slot(state, i);
            if s.grad.len() != p.value.len() {
                s.grad = vec![0.0; p.value.len()];
                s.update = vec![0.0; p.value.len()];
            }
            let work = UPDATE_WORK * p.value.len();
            par::zip4_mut(
                p.value,
                p.grad,
                &mut s.grad,
                &mut s.update,
                work,
                |w, g, a, u| adadelta_wide(w, g, a, u, [rho, eps, lr]),
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;
    use crate::nn::{with_threads, Init, Linear, Sequential};
    use crate::rng::Rng;
    use rand::{Rng as _, SeedableRng};

    fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
        let mut rng = Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(lo..hi)).collect()
    }

    /// The AVX builds of the update kernels give the bits of the plain ones (no FMA
    /// contraction; division and square root correctly rounded at any width), over a
    /// length with a tail past the last full vector, with and without weight decay.
    #[test]
    fn wide_kernels_match_the_plain_ones_bit_for_bit() {
        let n = 1003;
        let g = values(n, 1, -2.0, 2.0);
        let fresh = || {
            (
                values(n, 2, -1.0, 1.0),
                values(n, 3, -0.1, 0.1),
                values(n, 4, 0.0, 0.5),
            )
        };
        type Kernel4 = fn(&mut [f32], &[f32], &mut [f32], &mut [f32], [f32; 6]);
        let adams: [(Kernel4, Kernel4); 2] =
            [(adam_torch, adam_torch_wide), (adam_keras, adam_keras_wide)];
        for wd in [0.0, 0.01] {
            for (plain, wide) in adams {
                let c = [0.9, 0.999, 1e-8, wd, 0.003, 0.7];
                let (mut w1, mut m1, mut v1) = fresh();
                let (mut w2, mut m2, mut v2) = fresh();
                for _ in 0..3 {
                    plain(&mut w1, &g, &mut m1, &mut v1, c);
                    wide(&mut w2, &g, &mut m2, &mut v2, c);
                }
                assert_eq!(bits(&w1), bits(&w2));
                assert_eq!((bits(&m1), bits(&v1)), (bits(&m2), bits(&v2)));
            }
            let (mut w1, _, mut s1) = fresh();
            let (mut w2, _, mut s2) = fresh();
            for _ in 0..3 {
                rmsprop(&mut w1, &g, &mut s1, [0.99, 1e-8, wd, 0.01]);
                rmsprop_wide(&mut w2, &g, &mut s2, [0.99, 1e-8, wd, 0.01]);
            }
            assert_eq!((bits(&w1), bits(&s1)), (bits(&w2), bits(&s2)));
        }
        let (mut w1, mut a1, mut u1) = fresh();
        let (mut w2, mut a2, mut u2) = fresh();
        for _ in 0..3 {
            adadelta(&mut w1, &g, &mut a1, &mut u1, [0.95, 1e-7, 0.5]);
            adadelta_wide(&mut w2, &g, &mut a2, &mut u2, [0.95, 1e-7, 0.5]);
        }
        assert_eq!(bits(&w1), bits(&w2));
        assert_eq!((bits(&a1), bits(&u1)), (bits(&a2), bits(&u2)));
    }

    /// Builds a fresh optimiser.
    type Make = Box<dyn Fn() -> Box<dyn Optimizer> + Sync>;
    /// An update of one parameter from its gradient and two state vectors.
    type Update<'a> = dyn Fn(&mut [f32], &[f32], &mut [f32], &mut [f32]) + 'a;

    fn net() -> Sequential {
        let mut rng = Rng::seed_from_u64(9);
        Sequential::new(vec![
            Linear::new(300, 250, true, Init::TorchDefault, &mut rng).into(),
            Linear::new(250, 1, true, Init::TorchDefault, &mut rng).into(),
        ])
    }

    /// Gradients for step `k` (a different one each step).
    fn set_grads(net: &mut Sequential, k: u64) {
        let mut i = 0;
        net.visit_params(&mut |p| {
            let g = values(p.grad.len(), 100 * k + i, -1.0, 1.0);
            p.grad.copy_from_slice(&g);
            i += 1;
        });
    }

    fn weights(net: &mut Sequential) -> Vec<u32> {
        let mut out = Vec::new();
        net.visit_params(&mut |p| out.extend(p.value.iter().map(|v| v.to_bits())));
        out
    }

    /// Three steps of `opt` on a 75k-weight net, on this thread and in pools of 1 and 2
    /// threads with every update split into blocks.
    fn three_steps(opt: &(dyn Fn() -> Box<dyn Optimizer> + Sync), threads: usize) -> Vec<u32> {
        let run = || {
            let (mut n, mut o) = (net(), opt());
            for k in 0..3 {
                set_grads(&mut n, k);
                o.step(&mut n, 0.01);
            }
            weights(&mut n)
        };
        match threads {
            0 => run(),
            t => with_threads(t, run),
        }
    }

    /// Splitting an update between threads changes no bit, for every optimiser; and the
    /// optimisers whose loops moved into AVX kernels (SGD, RMSprop, Adadelta) give the
    /// bits of the loops they ran before, written out here.
    #[test]
    fn updates_are_bit_identical_split_or_not_and_match_the_plain_loops() {
        par::set_min_work(0);
        let makers: Vec<(&str, Make)> = vec![
            ("adam torch", Box::new(|| Box::new(Adam::torch(0.0)))),
            ("adam torch wd", Box::new(|| Box::new(Adam::torch(0.01)))),
            ("adam keras", Box::new(|| Box::new(Adam::keras()))),
            (
                "rmsprop torch wd",
                Box::new(|| Box::new(RmsProp::torch(0.1))),
            ),
            ("rmsprop keras", Box::new(|| Box::new(RmsProp::keras()))),
            ("sgd", Box::new(|| Box::new(Sgd::torch(0.9)))),
            ("adadelta", Box::new(|| Box::new(Adadelta::keras()))),
        ];
        for (name, make) in &makers {
            let here = three_steps(make.as_ref(), 0);
            for t in [1, 2] {
                assert!(three_steps(make.as_ref(), t) == here, "{name}: {t} threads");
            }
        }
        // The loops as they were (one pass over each parameter, in element order).
        let lr = 0.01f32;
        let reference = |update: &Update<'_>| {
            let mut n = net();
            let mut state: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
            for k in 0..3 {
                set_grads(&mut n, k);
                let mut i = 0;
                n.visit_params(&mut |p| {
                    if state.len() == i {
                        state.push((vec![0.0; p.value.len()], vec![0.0; p.value.len()]));
                    }
                    let (a, b) = &mut state[i];
                    update(p.value, p.grad, a, b);
                    i += 1;
                });
            }
            weights(&mut n)
        };
        let (rho, eps, wd) = (0.99f32, 1e-8f32, 0.1f32);
        let rms = reference(&|w, g, ms, _| {
            for ((w, &g), s) in w.iter_mut().zip(g.iter()).zip(ms.iter_mut()) {
                let g = if wd != 0.0 { g + wd * *w } else { g };
                *s = rho * *s + (1.0 - rho) * g * g;
                *w -= lr * g / (s.sqrt() + eps);
            }
        });
        assert!(rms == three_steps(makers[3].1.as_ref(), 2), "rmsprop");
        let m = 0.9f32;
        let sgd = reference(&|w, g, buf, _| {
            for ((w, &g), b) in w.iter_mut().zip(g.iter()).zip(buf.iter_mut()) {
                *b = m * *b + g;
                *w -= lr * *b;
            }
        });
        assert!(sgd == three_steps(makers[5].1.as_ref(), 2), "sgd");
        let (rho, eps) = (0.95f32, 1e-7f32);
        let adadelta = reference(&|w, g, acc_g, acc_u| {
            for (((w, &g), ag), au) in w
                .iter_mut()
                .zip(g.iter())
                .zip(acc_g.iter_mut())
                .zip(acc_u.iter_mut())
            {
                *ag = *ag * rho + g * g * (1.0 - rho);
                let u = (*au + eps).sqrt() / (*ag + eps).sqrt() * g;
                *w -= u * lr;
                *au = *au * rho + u * u * (1.0 - rho);
            }
        });
        assert!(adadelta == three_steps(makers[6].1.as_ref(), 2), "adadelta");
    }
}
