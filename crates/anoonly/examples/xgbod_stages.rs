//! Wall time of XGBOD's two stages (the 41 detectors, then the boosted trees) on one
//! file's train split (ADBench protocol, clean, gamma_la 0.1):
//! `cargo run --release --example xgbod_stages -- ../shared/data/adbench/CV_by_ResNet18/CIFAR10_0.npz 0`

use std::path::PathBuf;

use anoonly::data::{self, LoadOptions};
use anoonly::methods::xgbod::{FittedXgbod, XgbodParams};
use anoonly::protocol::{split, Setting, SplitParams};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: xgbod_stages FILE [SEED]"))?,
    );
    let seed: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0);
    let ds = data::load(&path, &LoadOptions::default())?;
    let params = SplitParams {
        setting: Setting::Clean,
        ..SplitParams::default()
    };
    let sp = split(ds.x.view(), ds.y.view(), &params, seed)?;
    let (_, _, t) = FittedXgbod::fit_timed(
        &XgbodParams::default(),
        seed,
        sp.x_train.view(),
        sp.y_train.view(),
        &mut anoonly::train::Silent,
    )?;
    println!(
        "{} train {}x{}: detectors {:.2}s (neighbours+kernel {:.2}s, OCSVM grid {:.2}s, HBOS {:.2}s, IForest {:.2}s), booster {:.2}s",
        ds.name,
        sp.x_train.nrows(),
        sp.x_train.ncols(),
        t.detectors_total,
        t.detectors.neighbors_and_kernel,
        t.detectors.ocsvm,
        t.detectors.hbos,
        t.detectors.iforest,
        t.booster
    );
    Ok(())
}
