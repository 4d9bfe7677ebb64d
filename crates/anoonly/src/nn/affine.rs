//! The optional learnable scale (`weight`, γ) and shift (`bias`, β) that BatchNorm1d and
//! LayerNorm share: visiting them for the optimiser, zeroing their gradients, saving and
//! loading them under torch's names.

use ndarray::Array1;

use super::{load_vec, make_standard1, vec_tensor, NamedTensor, ParamMut, StateError};

/// Mutable views of a layer's affine parameters and their gradients.
pub(crate) struct Affine<'a> {
    pub gamma: &'a mut Option<Array1<f32>>,
    pub beta: &'a mut Option<Array1<f32>>,
    pub grad_gamma: &'a mut Option<Array1<f32>>,
    pub grad_beta: &'a mut Option<Array1<f32>>,
}

impl Affine<'_> {
    /// Visits `weight` then `bias` (torch's order), where present.
    pub fn visit(self, f: &mut dyn FnMut(ParamMut<'_>)) {
        for (name, p, g) in [
            ("weight", self.gamma, self.grad_gamma),
            ("bias", self.beta, self.grad_beta),
        ] {
            if let (Some(p), Some(g)) = (p, g) {
                if let (Some(v), Some(g)) = (p.as_slice_mut(), g.as_slice_mut()) {
                    f(ParamMut {
                        name,
                        value: v,
                        grad: g,
                    });
                }
            }
        }
    }

    /// Makes the parameters contiguous and gives each a gradient buffer of its length
    /// (none where the parameter is absent), after parameters were set or loaded.
    pub fn sync(self) {
        for (p, g) in [(self.gamma, self.grad_gamma), (self.beta, self.grad_beta)] {
            match p {
                Some(p) => {
                    make_standard1(p);
                    if g.as_ref().map(|g| g.len()) != Some(p.len()) {
                        *g = Some(Array1::zeros(p.len()));
                    }
                }
                None => *g = None,
            }
        }
    }

    pub fn zero_grad(self) {
        for g in [self.grad_gamma, self.grad_beta].into_iter().flatten() {
            g.fill(0.0);
        }
    }

    /// Loads `weight` and `bias` of length `n` where the layer has them; nothing changes
    /// unless both load.
    pub fn load(self, prefix: &str, tensors: &[NamedTensor], n: usize) -> Result<(), StateError> {
        let g = match self.gamma {
            Some(_) => Some(load_vec(tensors, &format!("{prefix}weight"), n)?),
            None => None,
        };
        let b = match self.beta {
            Some(_) => Some(load_vec(tensors, &format!("{prefix}bias"), n)?),
            None => None,
        };
        if g.is_some() {
            *self.gamma = g;
        }
        if b.is_some() {
            *self.beta = b;
        }
        Ok(())
    }
}

/// Appends `weight` and `bias` where present.
pub(crate) fn affine_state(
    prefix: &str,
    gamma: &Option<Array1<f32>>,
    beta: &Option<Array1<f32>>,
    out: &mut Vec<NamedTensor>,
) {
    if let Some(g) = gamma {
        out.push(vec_tensor(format!("{prefix}weight"), g));
    }
    if let Some(b) = beta {
        out.push(vec_tensor(format!("{prefix}bias"), b));
    }
}
