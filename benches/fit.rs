//! Fit time of DeepSAD (50 epochs, the authors' settings) on CIFAR10_0's train split, and
//! the FLOP rate it reaches (criterion's throughput line, in elements = FLOPs per second).
//! The authors' PyTorch code takes about 2.2 s per fit on these machines.
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
        .join("../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz");
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

fn bench_deepsad(c: &mut Criterion) {
    let ds = cifar_or_synthetic();
    let sp = split(ds.x.view(), ds.y.view(), &SplitParams::default(), 0).expect("split");
    let mut group = c.benchmark_group("fit");
    group.sample_size(10);
    for anoonly in [false, true] {
        let params = FitParams::new(MethodKind::DeepSad).anoonly(anoonly);
        let MethodParams::DeepSad(p) = &params.method else {
            unreachable!("DeepSAD params")
        };
        let n = sp.x_train.nrows();
        let steps = (n / p.batch_size) * p.epochs;
        let mut dims = vec![sp.x_train.ncols()];
        dims.extend(&p.hidden);
        dims.push(p.rep_dim);
        let flops = steps as u64 * deepsad_step_flops(p.batch_size, &dims);
        group.throughput(Throughput::Elements(flops));
        let name = format!(
            "deepsad{}/{}x{}/50ep",
            if anoonly { "+anoonly" } else { "" },
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

criterion_group!(benches, bench_deepsad);
criterion_main!(benches);
