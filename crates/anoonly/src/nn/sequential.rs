//! A chain of layers, like `torch.nn.Sequential` (state names `"{i}.weight"`).

use super::{
    pool, sum_aux, ActivationLayer, BatchNorm1d, BnLoss, LayerNorm, Linear, Matrix, Mode, Module,
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
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let mut it = self.layers.iter_mut();
        let mut h = match it.next() {
            Some(l) => l.forward(x, mode),
            None => return x.clone(),
        };
        for l in it {
            // The layer keeps its own copy of what it needs: h's buffer can serve again.
            let next = l.forward(&h, mode);
            pool::recycle(std::mem::replace(&mut h, next));
        }
        h
    }

    /// Inner layers always produce their input gradient; the first one only when asked.
    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let n = self.layers.len();
        if n == 0 {
            return need_input_grad.then(|| grad_out.clone());
        }
        let mut g: Option<Matrix> = None;
        for (i, l) in self.layers.iter_mut().enumerate().rev() {
            let need = i > 0 || need_input_grad;
            let go = g.as_ref().unwrap_or(grad_out);
            let next = l.backward(go, need);
            if let Some(done) = std::mem::replace(&mut g, next) {
                pool::recycle(done);
            }
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
