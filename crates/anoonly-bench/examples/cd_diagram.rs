//! Sample critical-difference diagrams for 2 to 12 methods on synthetic scores (a
//! quality effect per method plus per-file noise), to look at the layout:
//! `cargo run --release --example cd_diagram -- OUT_DIR`

use std::path::PathBuf;

use anoonly::rng::component_rng;
use anoonly_bench::cd_diagram::CdDiagram;
use anoonly_bench::stats::{rank_comparison, Order};
use rand_distr::{Distribution, Normal};

const NAMES: [&str; 12] = [
    "ganomaly",
    "repen",
    "xgbod",
    "deepsad",
    "deepsad+AnoOnly",
    "feawad",
    "feawad+AnoOnly",
    "prenet",
    "prenet+AnoOnly",
    "devnet",
    "devnet+AnoOnly",
    "knn",
];

fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or_else(|| anyhow::anyhow!("usage: cd_diagram OUT_DIR"))?,
    );
    std::fs::create_dir_all(&out)?;
    for (k, files) in [(2, 10), (3, 20), (7, 22), (11, 24), (12, 47), (12, 5)] {
        let mut rng = component_rng(k as u64, "cd_diagram example");
        let noise = Normal::new(0.0, 0.06)?;
        // Method j's quality: a spread of effects with some near-ties.
        let effect: Vec<f64> = (0..k)
            .map(|j| 0.7 + 0.02 * ((j * 7) % k) as f64 + if j % 3 == 0 { 0.01 } else { 0.0 })
            .collect();
        let table: Vec<Vec<f64>> = (0..files)
            .map(|_| effect.iter().map(|e| e + noise.sample(&mut rng)).collect())
            .collect();
        let r = rank_comparison(&table, Order::HigherIsBetter, 0.05)?;
        let names: Vec<String> = NAMES[..k].iter().map(|s| s.to_string()).collect();
        let d = CdDiagram::new(
            &format!("Critical difference diagram, AUCROC, {k} methods (synthetic)"),
            &names,
            &r,
        );
        for p in d.write(&out, &format!("cd_k{k}_n{files}"))? {
            println!("{}", p.display());
        }
    }
    Ok(())
}
