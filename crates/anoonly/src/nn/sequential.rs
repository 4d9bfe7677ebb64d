//! A chain of layers, like `torch.nn.Sequential` (state names `"{i}.weight"`).

use super::{
    sum_aux, ActivationLayer, BatchNorm1d, BnLoss, LayerNorm, Linear, Matrix, Mode, Module,
    NamedTensor, ParamMut, StateError,
};

/// One layer of a [`Sequential`].
#[derive(Clone, Debug)]
pub enum Layer {
    Linear(Linear),
    BatchNorm(BatchNorm1d),
    LayerNorm(LayerNorm),
    Act(ActivationLayer),
    /// The BN† loss layer (identity).
    BnLoss(BnLoss),
}

impl Layer {
    fn module(&mut self) -> &mut dyn Module {
        match self {
            Layer::Linear(l) => l,
            Layer::BatchNorm(l) => l,
            Layer::LayerNorm(l) => l,
            Layer::Act(l) => l,
            Layer::BnLoss(l) => l,
        }
    }

    fn module_ref(&self) -> &dyn Module {
        match self {
            Layer::Linear(l) => l,
            Layer::BatchNorm(l) => l,
            Layer::LayerNorm(l) => l,
            Layer::Act(l) => l,
            Layer::BnLoss(l) => l,
        }
    }
}

impl From<Linear> for Layer {
    fn from(l: Linear) -> Self {
        Layer::Linear(l)
    }
}

impl From<BatchNorm1d> for Layer {
    fn from(l: BatchNorm1d) -> Self {
        Layer::BatchNorm(l)
    }
}

impl From<LayerNorm> for Layer {
    fn from(l: LayerNorm) -> Self {
        Layer::LayerNorm(l)
    }
}

impl From<BnLoss> for Layer {
    fn from(l: BnLoss) -> Self {
        Layer::BnLoss(l)
    }
}

impl From<ActivationLayer> for Layer {
    fn from(l: ActivationLayer) -> Self {
        Layer::Act(l)
    }
}

impl From<super::Activation> for Layer {
    fn from(a: super::Activation) -> Self {
        Layer::Act(ActivationLayer::new(a))
    }
}

impl Module for Layer {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        self.module().forward(x, mode)
    }
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        self.module().backward(grad_out, need_input_grad)
    }
    fn forward_owned(&mut self, x: Matrix, mode: Mode) -> Matrix {
        self.module().forward_owned(x, mode)
    }
    fn backward_owned(&mut self, grad_out: Matrix, need_input_grad: bool) -> Option<Matrix> {
        self.module().backward_owned(grad_out, need_input_grad)
    }
    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        self.module().visit_params(f)
    }
    fn zero_grad(&mut self) {
        self.module().zero_grad()
    }
    fn clear_cache(&mut self) {
        self.module().clear_cache()
    }
    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.module_ref().state(prefix, out)
    }
    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        self.module().load_state(prefix, tensors)
    }
    fn take_aux_loss(&mut self) -> Option<f32> {
        self.module().take_aux_loss()
    }
}

/// Layers applied in order.
#[derive(Clone, Debug, Default)]
pub struct Sequential {
    pub layers: Vec<Layer>,
}

impl Sequential {
    pub fn new(layers: Vec<Layer>) -> Sequential {
        Sequential { layers }
    }

    /// Every layer but the last, and the last: the features a net's last layer reads
    /// come from the first part ([`crate::methods::Method::representation`]).
    pub fn split_last(&self) -> (Sequential, Option<&Layer>) {
        match self.layers.split_last() {
            Some((last, body)) => (Sequential::new(body.to_vec()), Some(last)),
            None => (Sequential::default(), None),
        }
    }

    /// The input of the last layer for each row of `x`, in inference mode, chunked as
    /// the scores are ([`super::eval_matrix`]). The last layer must be a [`Linear`] (its
    /// input width is the result's); a net without one gives no columns.
    pub fn eval_before_last(&self, x: ndarray::ArrayView2<f32>) -> Matrix {
        let (mut body, last) = self.split_last();
        let width = match last {
            Some(Layer::Linear(l)) => l.d_in(),
            _ => 0,
        };
        super::eval_matrix(x, width, |chunk| body.forward(chunk, Mode::Eval))
    }
}

impl Module for Sequential {
    /// The first layer reads `x`; each later layer owns its input (it keeps it as its cache
    /// or writes over it, [`Module::forward_owned`]).
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let mut it = self.layers.iter_mut();
        let mut h = match it.next() {
            Some(l) => l.forward(x, mode),
            None => return x.clone(),
        };
        for l in it {
            h = l.forward_owned(h, mode);
        }
        h
    }

    fn forward_owned(&mut self, x: Matrix, mode: Mode) -> Matrix {
        let mut h = x;
        for l in self.layers.iter_mut() {
            h = l.forward_owned(h, mode);
        }
        h
    }

    /// Inner layers always produce their input gradient; the first one only when asked.
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let n = self.layers.len();
        if n == 0 {
            return need_input_grad.then(|| grad_out.clone());
        }
        let mut it = self.layers.iter_mut().enumerate().rev();
        let mut g = match it.next() {
            Some((i, l)) => l.backward(grad_out, i > 0 || need_input_grad),
            None => None,
        };
        for (i, l) in it {
            g = l.backward_owned(g?, i > 0 || need_input_grad);
        }
        g
    }

    fn backward_owned(&mut self, grad_out: Matrix, need_input_grad: bool) -> Option<Matrix> {
        let mut g = Some(grad_out);
        for (i, l) in self.layers.iter_mut().enumerate().rev() {
            g = l.backward_owned(g?, i > 0 || need_input_grad);
        }
        g
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        for l in &mut self.layers {
            l.visit_params(f);
        }
    }

    fn zero_grad(&mut self) {
        for l in &mut self.layers {
            l.zero_grad();
        }
    }

    fn clear_cache(&mut self) {
        for l in &mut self.layers {
            l.clear_cache();
        }
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        for (i, l) in self.layers.iter().enumerate() {
            l.state(&format!("{prefix}{i}."), out);
        }
    }

    /// All or nothing: on error the net is left unchanged.
    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        let mut layers = self.layers.clone();
        for (i, l) in layers.iter_mut().enumerate() {
            l.load_state(&format!("{prefix}{i}."), tensors)?;
        }
        self.layers = layers;
        Ok(())
    }

    fn take_aux_loss(&mut self) -> Option<f32> {
        sum_aux(self.layers.iter_mut().map(Layer::take_aux_loss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::bits;
    use crate::nn::{matmul, par, pool, with_threads, Activation, Init};
    use crate::rng::Rng;
    use rand::{Rng as _, SeedableRng};

    fn net(rng: &mut Rng) -> Sequential {
        Sequential::new(vec![
            Linear::new(37, 64, true, Init::TorchDefault, rng).into(),
            BatchNorm1d::torch(64, 1e-5, true).into(),
            Activation::Relu.into(),
            Linear::new(64, 60, true, Init::TorchDefault, rng).into(),
            BatchNorm1d::keras(60).into(),
            Activation::LeakyRelu(0.01).into(),
            Linear::new(60, 64, false, Init::TorchDefault, rng).into(),
            Activation::Tanh.into(),
            Linear::new(64, 3, true, Init::TorchDefault, rng).into(),
            Activation::Sigmoid.into(),
        ])
    }

    /// Parameters, their gradients and the state (running statistics), as bits.
    fn bits_of(net: &mut Sequential) -> Vec<u32> {
        let mut out = Vec::new();
        net.visit_params(&mut |p| {
            out.extend(p.value.iter().map(|v| v.to_bits()));
            out.extend(p.grad.iter().map(|v| v.to_bits()));
        });
        let mut state = Vec::new();
        net.state("", &mut state);
        for t in state {
            out.extend(t.data.iter().map(|v| v.to_bits()));
        }
        out
    }

    /// The chain's owned passes (each layer keeps its input or writes over it, the fused
    /// BatchNorm and activation passes, the unfilled product buffers, at 1 and 2 threads
    /// with every product and pass split) give the bits of the reference: each layer's
    /// borrowed forward and backward in turn, what the chain ran before, on one thread.
    /// Two steps, so the second runs on recycled buffers.
    #[test]
    fn owned_chain_matches_layer_by_layer_borrowed_passes_bit_for_bit() {
        let mut rng = Rng::seed_from_u64(3);
        let reference_net = net(&mut rng);
        let x = Matrix::from_shape_simple_fn((300, 37), || rng.gen_range(-1.0f32..1.0));
        let g = Matrix::from_shape_simple_fn((300, 3), || rng.gen_range(-1.0f32..1.0));
        let mut r = reference_net.clone();
        let mut want = Vec::new();
        for _ in 0..2 {
            r.zero_grad();
            let mut h = x.clone();
            for l in &mut r.layers {
                h = l.forward(&h, Mode::Train);
            }
            let mut d = g.clone();
            for l in r.layers.iter_mut().rev() {
                d = l.backward(&d, true).expect("input gradient");
            }
            want.push((bits(&h), bits(&d), bits_of(&mut r)));
        }
        matmul::set_gemm_threaded_min_work(0);
        par::set_min_work(0);
        for threads in [1, 2] {
            with_threads(threads, || {
                let (mut a, mut b) = (reference_net.clone(), reference_net.clone());
                for (y_want, d_want, p_want) in &want {
                    a.zero_grad();
                    b.zero_grad();
                    let ya = a.forward(&x, Mode::Train);
                    let yb = b.forward_owned(x.clone(), Mode::Train);
                    assert_eq!(&bits(&ya), y_want, "{threads} threads: forward");
                    assert_eq!(&bits(&yb), y_want, "{threads} threads: forward_owned");
                    let da = a.backward(&g, true).expect("input gradient");
                    let db = b.backward_owned(g.clone(), true).expect("input gradient");
                    assert_eq!(&bits(&da), d_want, "{threads} threads: backward");
                    assert_eq!(&bits(&db), d_want, "{threads} threads: backward_owned");
                    assert_eq!(&bits_of(&mut a), p_want, "{threads} threads: parameters");
                    assert_eq!(&bits_of(&mut b), p_want, "{threads} threads: parameters");
                    for m in [ya, yb, da, db] {
                        pool::recycle(m);
                    }
                }
                pool::clear();
            });
        }
    }
}
