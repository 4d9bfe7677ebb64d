//! [`NormKind`]: which normalisation layer(s) a network puts before its last layer, the
//! switch of the paper's Table 2 (`--norm`, a grid's `norm` ablation, model-file configs).

use serde::{Deserialize, Serialize};

/// The normalisation layer(s) a method puts before its last layer (`--norm`). Which
/// layers these are is each method's [`crate::train::head_norm`] site:
/// - DeepSAD: the layer after **each** hidden linear layer (its two torch BatchNorms, the
///   method's own being [`NormKind::BnNoAffine`]);
/// - DevNet: the layer between the hidden ReLU and the output layer (own: none);
/// - PReNet: the end of the shared feature branch, before the pair concatenation (own: none);
/// - FEAWAD: the layer on the 33-d input of the output layer (own: Keras [`NormKind::Bn`]).
/// - RoSAS: the layer on the input of the score head's last Linear, after its LeakyReLU
///   (own: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormKind {
    None,
    #[serde(rename = "layernorm", alias = "layer-norm")]
    LayerNorm,
    /// BatchNorm without the learnable scale and shift (the paper's BN*).
    #[serde(rename = "bn-noaffine", alias = "bn-no-affine")]
    BnNoAffine,
    Bn,
    /// The paper's BN†: no BatchNorm, an identity layer adding the explicit loss `L_BN` of
    /// eq. 5 on the features BatchNorm would have normalised ([`crate::nn::BnLoss`]).
    BnLoss,
}

impl NormKind {
    /// Every choice, in the order of the paper's Table 2 (also the x axis of the `norm`
    /// ablation figure and the values of the `ablation` suite's `norm` sweep).
    pub const ALL: &'static [NormKind] = &[
        NormKind::None,
        NormKind::LayerNorm,
        NormKind::BnNoAffine,
        NormKind::Bn,
        NormKind::BnLoss,
    ];

    /// The CLI's and the JSON records' spelling (the serde names; tests/ablation.rs checks
    /// both agree).
    pub fn name(self) -> &'static str {
        match self {
            NormKind::None => "none",
            NormKind::LayerNorm => "layernorm",
            NormKind::BnNoAffine => "bn-noaffine",
            NormKind::Bn => "bn",
            NormKind::BnLoss => "bn-loss",
        }
    }
}

impl std::fmt::Display for NormKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for NormKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        NormKind::ALL
            .iter()
            .copied()
            .find(|n| n.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = NormKind::ALL.iter().map(|n| n.name()).collect();
                format!("unknown norm `{s}` (known: {})", names.join(", "))
            })
    }
}
