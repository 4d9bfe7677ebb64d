//! Learning-rate schedules, as functions of the number of scheduler steps `t` taken since
//! construction (torch's `last_epoch`). Whether `t` counts batches or epochs is the caller's
//! choice (DeepSAD steps per batch, PReNet per epoch).

/// A learning-rate schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum LrSchedule {
    Constant,
    /// torch `MultiStepLR`: `base · gamma^(number of milestones ≤ t)`. Constructing the torch
    /// scheduler already takes step 0, so a milestone at 0 decays the rate before the first
    /// optimiser step: DeepSAD's `milestones=[0], gamma=0.1` trains at base/10 throughout.
    MultiStep {
        milestones: Vec<usize>,
        gamma: f32,
    },
    /// torch `CosineAnnealingLR` (closed form):
    /// `eta_min + (base − eta_min)(1 + cos(π·t/t_max))/2`.
    Cosine {
        t_max: usize,
        eta_min: f32,
    },
}

/// The f64 that an f32 was written as: `0.001f32` becomes `0.001f64`, not
/// `0.0010000000474974513`. torch computes schedules on the Python floats the user typed, so
/// widening the f32 exactly would round some products to the neighbouring f32 (1e-3 · 0.1
/// would give 1.00000005e-4 instead of torch's 1e-4).
fn as_typed(v: f32) -> f64 {
    format!("{v}").parse().unwrap_or(f64::from(v))
}

impl LrSchedule {
    /// The learning rate for step `t` (computed in f64 on the typed decimal values, like
    /// torch's Python floats, then rounded to f32).
    pub fn lr(&self, base_lr: f32, t: usize) -> f32 {
        match self {
            LrSchedule::Constant => base_lr,
            LrSchedule::MultiStep { milestones, gamma } => {
                let k = milestones.iter().filter(|&&m| m <= t).count();
                let k = i32::try_from(k).unwrap_or(i32::MAX);
                (as_typed(base_lr) * as_typed(*gamma).powi(k)) as f32
            }
            LrSchedule::Cosine { t_max, eta_min } => {
                if *t_max == 0 {
                    return *eta_min;
                }
                let (base, min) = (as_typed(base_lr), as_typed(*eta_min));
                let c = (std::f64::consts::PI * t as f64 / *t_max as f64).cos();
                (min + (base - min) * (1.0 + c) / 2.0) as f32
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multistep_zero_milestone_decays_at_once() {
        let s = LrSchedule::MultiStep {
            milestones: vec![0],
            gamma: 0.1,
        };
        // Exactly the f32 torch gets from 1e-3 * 0.1 in Python floats.
        assert_eq!(s.lr(1e-3, 0), 1e-4);
        assert!((s.lr(1e-3, 1000) - 1e-4).abs() < 1e-10);
        let s = LrSchedule::MultiStep {
            milestones: vec![2, 4],
            gamma: 0.5,
        };
        let lrs: Vec<f32> = (0..6).map(|t| s.lr(1.0, t)).collect();
        assert_eq!(lrs, vec![1.0, 1.0, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn cosine_endpoints() {
        let s = LrSchedule::Cosine {
            t_max: 50,
            eta_min: 1e-5,
        };
        assert_eq!(s.lr(1e-3, 0), 1e-3);
        assert!((s.lr(1e-3, 50) - 1e-5).abs() < 1e-12);
        assert!((s.lr(1e-3, 25) - (1e-5 + 0.99e-3 / 2.0)).abs() < 1e-9);
        assert_eq!(LrSchedule::Constant.lr(0.3, 7), 0.3);
    }
}
