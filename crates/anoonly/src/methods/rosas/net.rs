//! RoSAS's network (the authors' `EDOSNet`): an embedding net
//! `Linear(d, h) → LeakyReLU(0.01) → Linear(h, n_emb)` and a score head
//! `Linear(n_emb, n_emb/2) → LeakyReLU → [norm] → Linear(n_emb/2, 1, bias) → tanh`, only the last
//! Linear with a bias, torch default init. The two halves are separate [`Sequential`]s because
//! the triplet loss reads the embedding between them; as a [`Module`] the net is the two in a
//! row (embedding, then head), parameters visited in that order, state names `enc.` and `head.`.

use ndarray::{Array1, Array2, ArrayView2};

use crate::nn::{
    eval_matrix, eval_rows, pool, Activation, Init, Linear, Matrix, Mode, Module, NamedTensor,
    ParamMut, Sequential, StateError,
};
use crate::rng::Rng;
use crate::train::{norm_layer, HeadNorm, NormFlavour};

/// torch `BatchNorm1d`'s epsilon, for the normalisation AnoOnly adds.
pub const BN_EPS: f32 = 1e-5;

/// The embedding net and the score head.
#[derive(Clone, Debug)]
pub struct RosasNet {
    pub enc: Sequential,
    pub head: Sequential,
    /// The width of the features the last Linear reads (`n_emb / 2`).
    half: usize,
}

impl RosasNet {
    /// A new net on `d` features, drawing the weights layer by layer in forward order
    /// (embedding, then head) from `rng`. The authors' code also creates an unused
    /// `hidden_layer2_dup` between `hidden_layer2` and `out_layer`; it only consumed torch's
    /// init stream, which we do not share, so it is not built.
    pub fn new(d: usize, hidden: usize, n_emb: usize, norm: HeadNorm, rng: &mut Rng) -> RosasNet {
        let half = n_emb / 2;
        let leaky = Activation::LeakyRelu(0.01);
        let enc = Sequential::new(vec![
            Linear::new(d, hidden, false, Init::TorchDefault, rng).into(),
            leaky.into(),
            Linear::new(hidden, n_emb, false, Init::TorchDefault, rng).into(),
        ]);
        let mut head = vec![
            Linear::new(n_emb, half, false, Init::TorchDefault, rng).into(),
            leaky.into(),
        ];
        head.extend(norm_layer(
            norm,
            half,
            NormFlavour::Torch { bn_eps: BN_EPS },
        ));
        head.push(Linear::new(half, 1, true, Init::TorchDefault, rng).into());
        head.push(Activation::Tanh.into());
        RosasNet {
            enc,
            head: Sequential::new(head),
            half,
        }
    }

    /// The head's layers before its last Linear (which, with the tanh, follows them).
    fn pre_out(&self) -> usize {
        self.head.layers.len() - 2
    }

    /// The scores of `x` (inference mode).
    pub fn scores(&self, x: ArrayView2<f32>) -> Array1<f32> {
        eval_rows(self, x, |r| r[0])
    }

    /// The features the last Linear reads, for `x` (inference mode): the embedding net and
    /// the head up to its last Linear, as one chain.
    pub fn features(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut layers = self.enc.layers.clone();
        layers.extend_from_slice(&self.head.layers[..self.pre_out()]);
        let mut chain = Sequential::new(layers);
        eval_matrix(x, self.half, |chunk| chain.forward(chunk, Mode::Eval))
    }
}

impl Module for RosasNet {
    fn forward(&mut self, x: &Matrix, mode: Mode) -> Matrix {
        let e = self.enc.forward(x, mode);
        let s = self.head.forward(&e, mode);
        pool::recycle(e);
        s
    }

    fn backward(&mut self, grad_out: &Matrix, need_input_grad: bool) -> Option<Matrix> {
        let g = self.head.backward(grad_out, true)?;
        let dx = self.enc.backward(&g, need_input_grad);
        pool::recycle(g);
        dx
    }

    fn visit_params(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        self.enc.visit_params(f);
        self.head.visit_params(f);
    }

    fn zero_grad(&mut self) {
        self.enc.zero_grad();
        self.head.zero_grad();
    }

    fn clear_cache(&mut self) {
        self.enc.clear_cache();
        self.head.clear_cache();
    }

    fn state(&self, prefix: &str, out: &mut Vec<NamedTensor>) {
        self.enc.state(&format!("{prefix}enc."), out);
        self.head.state(&format!("{prefix}head."), out);
    }

    /// All or nothing: on error the net is left unchanged.
    fn load_state(&mut self, prefix: &str, tensors: &[NamedTensor]) -> Result<(), StateError> {
        let mut enc = self.enc.clone();
        let mut head = self.head.clone();
        enc.load_state(&format!("{prefix}enc."), tensors)?;
        head.load_state(&format!("{prefix}head."), tensors)?;
        self.enc = enc;
        self.head = head;
        Ok(())
    }

    fn take_aux_loss(&mut self) -> Option<f32> {
        crate::nn::sum_aux([self.enc.take_aux_loss(), self.head.take_aux_loss()])
    }
}
