//! Fig. 10's embeddings end to end on built-in data: a run's DeepSAD cells of seed 0 are
//! refitted (the same models: their test AUCROC is the cells'), the file is the same bit
//! for bit from run to run, a resumed run keeps it, the report draws the figure from it,
//! and a run directory without it gets no such figure.

use std::collections::HashSet;

use anoonly::methods::MethodKind;
use anoonly_bench::fig10::{self, Fig10Settings};
use anoonly_bench::grid::{Grid, Variant};
use anoonly_bench::tsne::TsneParams;
use anoonly_bench::{run, QuietRun, RunOptions};

fn grid() -> Grid {
    Grid {
        synthetic: vec![0, 1],
        methods: vec![MethodKind::DeepSad, MethodKind::DevNet],
        seeds: vec![0, 1],
        epochs: Some(3),
        ..Grid::default()
    }
}

fn settings() -> Fig10Settings {
    Fig10Settings {
        rows: 150,
        tsne: TsneParams {
            perplexity: 10.0,
            epochs: 250,
            theta: 0.5,
        },
    }
}

fn opts(out: &std::path::Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        resume: false,
        threads: 2,
        matmul_threads: 1,
        shard: None,
        share: true,
        cache: None,
    }
}

#[test]
fn the_embeddings_are_the_cells_models_reproducible_kept_and_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let g = grid();
    // The built-in data is not one of the paper's Fig. 10 families: no file.
    run(&g, &opts(&dir), &QuietRun).unwrap();
    assert!(!dir.join(fig10::FILE).exists());
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(!report.contains("fig10_tsne"));

    let cells: Vec<_> = g.cells().unwrap().into_iter().map(|c| (c, &g)).collect();
    let pairs = fig10::pairs(&cells, &["synthetic"]);
    assert_eq!(pairs.len(), 1, "one file per family: the first");
    let (base, twin, _) = &pairs[0];
    assert_eq!(
        base.key(),
        "synthetic_0/deepsad/base/clean/gamma_la=0.1/seed=0"
    );
    assert_eq!(twin.variant, Variant::AnoOnly);
    let results = anoonly_bench::results::read_results(&dir).unwrap();
    let finished: HashSet<String> = results.iter().map(|r| r.key.clone()).collect();
    let path = fig10::update(&cells, &finished, &dir, &["synthetic"], &settings())
        .unwrap()
        .unwrap();
    let fig = fig10::read(&dir).unwrap().unwrap();
    let f = &fig.files[0];
    assert_eq!(
        (f.rows.len(), f.anomaly.len(), f.input.len()),
        (150, 150, 150)
    );
    assert_eq!((f.hidden_base.len(), f.score_anoonly.len()), (150, 150));
    assert!(f.rows.windows(2).all(|w| w[0] < w[1]) && f.n_test > 150);
    assert!(f.anomaly.contains(&1));
    // The refits are the cells' models: the same test AUCROC, bit for bit.
    let auc = |key: &str| results.iter().find(|r| r.key == key).unwrap().aucroc;
    assert_eq!(f.aucroc_base, auc(&base.key()));
    assert_eq!(f.aucroc_anoonly, auc(&twin.key()));
    assert_ne!(f.hidden_base, f.hidden_anoonly);

    // Another directory computes the same bytes.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    fig10::update(&cells, &finished, &other, &["synthetic"], &settings()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes, std::fs::read(other.join(fig10::FILE)).unwrap());

    // The same cells and settings: the stored file is kept as it is (a resume does not
    // recompute it); other settings recompute it.
    let mut kept = fig.clone();
    kept.files[0].input[0] = [1234.0, 5678.0];
    std::fs::write(&path, serde_json::to_string(&kept).unwrap()).unwrap();
    fig10::update(&cells, &finished, &dir, &["synthetic"], &settings()).unwrap();
    assert_eq!(fig10::read(&dir).unwrap().unwrap(), kept);
    let mut fewer = settings();
    fewer.rows = 100;
    fig10::update(&cells, &finished, &dir, &["synthetic"], &fewer).unwrap();
    assert_eq!(fig10::read(&dir).unwrap().unwrap().files[0].rows.len(), 100);
    // Cells not finished: nothing to compute.
    assert!(
        fig10::update(&cells, &HashSet::new(), &other, &["synthetic"], &settings())
            .unwrap()
            .is_none()
    );

    // `bench report` draws it from the file.
    let outputs = anoonly_bench::write_report(&dir).unwrap();
    assert!(outputs.iter().any(|p| p.ends_with("fig10_tsne.png")));
    let png = std::fs::read(dir.join("fig10_tsne.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        report.contains("- `fig10_tsne.png` / `fig10_tsne.svg`: t-SNE"),
        "{report}"
    );
    assert!(report.contains("synthetic_0 (100 of"), "{report}");
    // A broken file is an error naming it, not a silent figure.
    std::fs::write(&path, "{").unwrap();
    let e = anoonly_bench::write_report(&dir).unwrap_err().to_string();
    assert!(e.contains("fig10_tsne.json"), "{e}");
}
