//! Fit time of every method, with and without AnoOnly, at the authors' settings on
//! CIFAR10_0's train split (clean, gamma_la 0.1, seed 0). For DeepSAD also the FLOP rate it
//! reaches (criterion's throughput line, in elements = FLOPs per second).
//! The authors' code on these machines (reference-results.md, one fit): DeepSAD about 2.2 s,
//! DevNet about 1.5 s, PReNet about 3.3 s, FEAWAD about 30 s.
//!
//! Needs `../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz`; without it, it runs on
//! synthetic data of the same shape and says so.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use anoonly::data::{self, synthetic, LoadOptions};
use anoonly::methods::{FitParams, MethodKind, MethodParams};
use anoonly::protocol::{split, SplitParams};

fn cifar_or_synthetic() -> anoonly::Dataset {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz");
    match data::load(&p, &LoadOptions::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("NOTE: {e}; benchmarking on synthetic data of CIFAR10_0's shape instead");
            synthetic::generate(&synthetic::SyntheticParams {
                n_normal: 5000,
                n_anomaly: 263,
                dim: 512,
                seed: 0,
            })
        }
    }
}

/// Multiply-adds ×2 of one DeepSAD step on a batch of `b` rows: forward through every
/// linear layer, weight gradients of every layer, input gradients of all but the first.
fn deepsad_step_flops(b: usize, dims: &[usize]) -> u64 {
    let mut f = 0u64;
    for (i, w) in dims.windows(2).enumerate() {
        let mm = 2 * (b * w[0] * w[1]) as u64;
        f += 2 * mm; // forward + weight gradient
        if i > 0 {
            f += mm; // input gradient
        }
    }
    f
}

fn bench_fit(c: &mut Criterion) {
    let ds = cifar_or_synthetic();
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 0).expect("split");
    let n = sp.x_train.nrows();
    for &kind in MethodKind::ALL {
        // One group per method, so the FLOP throughput is set only where it is counted.
        let mut group = c.benchmark_group(format!("fit-{kind}"));
        group.sample_size(10);
        for anoonly in [false, true] {
            if anoonly && !kind.supports_anoonly() {
                continue;
            }
            let params = FitParams::new(kind).anoonly(anoonly);
            if let MethodParams::DeepSad(p) = &params.method {
                let steps = (n / p.batch_size) * p.epochs;
                let mut dims = vec![sp.x_train.ncols()];
                dims.extend(&p.hidden);
                dims.push(p.rep_dim);
                group.throughput(Throughput::Elements(
                    steps as u64 * deepsad_step_flops(p.batch_size, &dims),
                ));
            }
            let name = format!(
                "{}/{}x{}",
                if anoonly { "anoonly" } else { "vanilla" },
                n,
                sp.x_train.ncols()
            );
            group.bench_function(name, |bch| {
                bch.iter(|| {
                    params
                        .fit(sp.x_train.view(), sp.y_train.view())
                        .expect("fit")
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_fit);
criterion_main!(benches);
