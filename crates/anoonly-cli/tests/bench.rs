//! `anoonly bench`: resume recomputes nothing finished, shards are disjoint and cover the
//! grid, an observer sees every cell and can stop a run, family averaging by hand, a report from fixed results against a stored file,
//! results independent of the thread count, a SIGKILLed run resumed to the same report, and
//! the command's `--cache` (the same report as without), `--list`, exit status on failed
//! cells and `bench merge`'s failed count.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

mod common;

use anoonly::methods::MethodKind;
use anoonly::protocol::Setting;
use anoonly_bench::report::markdown;
use anoonly_bench::results::{read_results, RESULTS_FILE};
use anoonly_bench::sections::{family_means, Metric};
use anoonly_bench::{
    self, BenchObserver, Cell, CellOutcome, Counts, Grid, QuietRun, ResultRecord, RunOptions,
    Shard, Suite, Variant,
};

/// 8 cells of built-in data, a couple of seconds in all.
fn small_grid() -> Grid {
    Grid {
        synthetic: vec![0],
        methods: vec![MethodKind::DeepSad, MethodKind::DevNet],
        seeds: vec![0, 1],
        epochs: Some(4),
        ..Grid::default()
    }
}

fn opts(out: &Path, resume: bool, threads: usize) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        resume,
        threads,
        matmul_threads: 1,
        shard: None,
        share: true,
        cache: None,
    }
}

/// Metrics per key (fit times excluded: they are the only thing allowed to differ).
fn metrics(dir: &Path) -> BTreeMap<String, [u64; 4]> {
    read_results(dir)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key.clone(),
                [
                    r.aucroc.to_bits(),
                    r.aucpr.to_bits(),
                    r.aucpr_normal.to_bits(),
                    r.aucpr_normal_official.to_bits(),
                ],
            )
        })
        .collect()
}

/// Two run directories hold the same metrics per key and byte-identical `report.csv`.
fn assert_same_run(a: &Path, b: &Path) {
    assert_eq!(metrics(a), metrics(b));
    assert_eq!(
        std::fs::read(a.join("report.csv")).unwrap(),
        std::fs::read(b.join("report.csv")).unwrap()
    );
}

#[test]
fn resume_recomputes_nothing_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    let s = anoonly_bench::run(&small_grid(), &opts(&full, false, 2), &QuietRun).unwrap();
    assert_eq!((s.cells, s.ran, s.skipped, s.failed), (8, 8, 0, 0));

    // Without --resume an existing run is refused, not mixed.
    assert!(anoonly_bench::run(&small_grid(), &opts(&full, false, 2), &QuietRun).is_err());
    // A finished run resumed runs nothing and leaves its results byte for byte.
    let before = std::fs::read(full.join(RESULTS_FILE)).unwrap();
    let s = anoonly_bench::run(&small_grid(), &opts(&full, true, 2), &QuietRun).unwrap();
    assert_eq!((s.ran, s.skipped), (0, 8));
    assert_eq!(std::fs::read(full.join(RESULTS_FILE)).unwrap(), before);

    // An interrupted run: 3 lines finished, a 4th torn mid-write.
    let part = tmp.path().join("part");
    std::fs::create_dir_all(&part).unwrap();
    let text = String::from_utf8(before.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let kept = format!("{}\n{}\n{}\n", lines[0], lines[1], lines[2]);
    std::fs::write(
        part.join(RESULTS_FILE),
        format!("{kept}{}", &lines[3][..40]),
    )
    .unwrap();
    let s = anoonly_bench::run(&small_grid(), &opts(&part, true, 2), &QuietRun).unwrap();
    assert_eq!((s.ran, s.skipped), (5, 3));
    let after = std::fs::read_to_string(part.join(RESULTS_FILE)).unwrap();
    assert!(after.starts_with(&kept), "finished lines were rewritten");
    assert_eq!(after.lines().count(), 8, "torn line not dropped");
    // Same metrics, and the report rebuilt from all 8 results.
    assert_same_run(&part, &full);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    anoonly_bench::run(&small_grid(), &opts(&a, false, 1), &QuietRun).unwrap();
    anoonly_bench::run(&small_grid(), &opts(&b, false, 2), &QuietRun).unwrap();
    assert_same_run(&a, &b);
}

#[test]
fn shards_are_disjoint_and_cover_the_grid() {
    let grid = Grid {
        synthetic: vec![0, 1, 2],
        methods: vec![MethodKind::DeepSad, MethodKind::DevNet, MethodKind::PReNet],
        settings: vec![Setting::Clean, Setting::Noisy],
        gamma_la: vec![0.05, 0.1],
        ..Grid::default()
    };
    let all: Vec<String> = grid.cells().unwrap().iter().map(|c| c.key()).collect();
    assert_eq!(all.len(), 3 * 3 * 2 * 2 * 2 * 3);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), all.len());
    for n in [1, 2, 3, 7, 500] {
        let mut seen = BTreeSet::new();
        let mut sizes = Vec::new();
        for i in 1..=n {
            let shard: Shard = format!("{i}/{n}").parse().unwrap();
            let keys: Vec<String> = shard
                .select(grid.cells().unwrap())
                .iter()
                .map(|c| c.key())
                .collect();
            sizes.push(keys.len());
            for k in keys {
                assert!(seen.insert(k), "a cell in two shards of {n}");
            }
        }
        assert_eq!(seen, all.iter().cloned().collect::<BTreeSet<_>>());
        let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(hi - lo <= 1, "unbalanced shards of {n}: {sizes:?}");
    }
    for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
        assert!(bad.parse::<Shard>().is_err(), "{bad}");
    }
}

#[test]
fn merged_shards_equal_the_whole_run() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    anoonly_bench::run(&small_grid(), &opts(&whole, false, 2), &QuietRun).unwrap();
    let mut dirs = Vec::new();
    for i in 1..=3 {
        let d = tmp.path().join(format!("shard{i}"));
        let mut o = opts(&d, false, 1);
        o.shard = Some(format!("{i}/3").parse().unwrap());
        anoonly_bench::run(&small_grid(), &o, &QuietRun).unwrap();
        dirs.push(d);
    }
    let merged = tmp.path().join("merged");
    let m = anoonly_bench::merge(&dirs, &merged).unwrap();
    assert_eq!((m.cells, m.failed), (8, 0));
    assert_same_run(&merged, &whole);
}

/// The report's list of failed cells, from its `## Failed cells` heading to the next one.
fn failed_section(dir: &Path) -> String {
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let start = md.find("## Failed cells").expect("no failed-cells section");
    let rest = &md[start..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_string()
}

/// Cells that failed in a shard are not lost by `bench merge`: they are in the merged
/// `failures.jsonl` and the merged report lists them exactly as a one-process run does
/// (before, a merge of shards with failed cells gave a report that looked complete).
#[test]
fn merge_keeps_the_shards_failed_cells() {
    let tmp = tempfile::tempdir().unwrap();
    // DeepSAD with a layer too wide to build fails at every cell; DevNet runs.
    let grid = Grid {
        set: vec![(MethodKind::DeepSad, "hidden=[100000000000]".to_string())],
        ..small_grid()
    };
    let whole = tmp.path().join("whole");
    let s = anoonly_bench::run(&grid, &opts(&whole, false, 2), &QuietRun).unwrap();
    assert_eq!((s.ran, s.failed), (8, 4));
    let mut dirs = Vec::new();
    for i in 1..=2 {
        let d = tmp.path().join(format!("shard{i}"));
        let mut o = opts(&d, false, 1);
        o.shard = Some(format!("{i}/2").parse().unwrap());
        anoonly_bench::run(&grid, &o, &QuietRun).unwrap();
        dirs.push(d);
    }
    // A cell one directory failed and another finished is not a failure.
    let finished_key = read_results(&dirs[0]).unwrap()[0].key.clone();
    std::fs::write(
        dirs[1].join("failures.jsonl"),
        format!(
            "{}{{\"key\":\"{finished_key}\",\"error\":\"an earlier attempt\"}}\n",
            std::fs::read_to_string(dirs[1].join("failures.jsonl")).unwrap()
        ),
    )
    .unwrap();

    let merged = tmp.path().join("merged");
    let m = anoonly_bench::merge(&dirs, &merged).unwrap();
    assert_eq!((m.cells, m.failed), (4, 4));
    assert_same_run(&merged, &whole);
    let keys = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_to_string(dir.join("failures.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<anoonly_bench::Failure>(l)
                    .unwrap()
                    .key
            })
            .collect()
    };
    assert_eq!(keys(&merged).len(), 4);
    assert_eq!(keys(&merged), keys(&whole));
    assert!(!keys(&merged).contains(&finished_key));
    assert_eq!(failed_section(&merged), failed_section(&whole));
}

/// Counts what a run reports, and stops it after `stop_after` finished cells.
struct Watch {
    stop_after: usize,
    planned: Mutex<Option<Counts>>,
    started: AtomicUsize,
    finished: Mutex<Vec<(String, usize, bool)>>,
}

impl BenchObserver for Watch {
    fn planned(&self, c: Counts) {
        *self.planned.lock().unwrap() = Some(c);
    }

    fn cell_started(&self, _: &Cell, _: Counts) {
        self.started.fetch_add(1, Ordering::SeqCst);
    }

    fn cell_finished(&self, cell: &Cell, outcome: CellOutcome<'_>, c: Counts) -> ControlFlow<()> {
        let ok = matches!(outcome, CellOutcome::Done(r) if r.seed == cell.seed);
        let mut f = self.finished.lock().unwrap();
        f.push((cell.key(), c.finished, ok));
        if f.len() >= self.stop_after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// A run reports its plan and every cell to its observer, and stops when the observer
/// asks: no new cell starts, the finished ones are on disk, and a resumed run ends where
/// an uninterrupted one does.
#[test]
fn an_observer_sees_every_cell_and_can_stop_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let watch = |stop_after| Watch {
        stop_after,
        planned: Mutex::new(None),
        started: AtomicUsize::new(0),
        finished: Mutex::new(Vec::new()),
    };
    let whole = tmp.path().join("whole");
    let w = watch(usize::MAX);
    anoonly_bench::run(&small_grid(), &opts(&whole, false, 2), &w).unwrap();
    let planned = w.planned.lock().unwrap().unwrap();
    assert_eq!(
        (planned.total, planned.skipped, planned.finished),
        (8, 0, 0)
    );
    assert_eq!(w.started.load(Ordering::SeqCst), 8);
    let mut numbers: Vec<usize> = w.finished.lock().unwrap().iter().map(|f| f.1).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=8).collect::<Vec<_>>(),
        "each finished cell has its own number"
    );
    assert!(w.finished.lock().unwrap().iter().all(|f| f.2));

    let part = tmp.path().join("part");
    let w = watch(3);
    let e = anoonly_bench::run(&small_grid(), &opts(&part, false, 1), &w).unwrap_err();
    assert!(
        matches!(
            e,
            anoonly_bench::BenchError::Interrupted {
                finished: 3,
                total: 8
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("--resume"), "{e}");
    assert_eq!(
        w.started.load(Ordering::SeqCst),
        3,
        "a cell started after the stop"
    );
    let lines = std::fs::read_to_string(part.join(RESULTS_FILE)).unwrap();
    assert_eq!(lines.lines().count(), 3);
    let s = anoonly_bench::run(&small_grid(), &opts(&part, true, 2), &QuietRun).unwrap();
    assert_eq!((s.ran, s.skipped), (5, 3));
    assert_same_run(&part, &whole);
}

fn rec(dataset: &str, family: &str, seed: u64, aucroc: f64) -> ResultRecord {
    ResultRecord {
        key: format!("{dataset}/deepsad/base/clean/gamma_la=0.1/seed={seed}"),
        schema_version: anoonly_bench::SCHEMA_VERSION,
        dataset: dataset.into(),
        family: family.into(),
        method: MethodKind::DeepSad,
        variant: Variant::Base,
        setting: Setting::Clean,
        protocol: anoonly::protocol::Protocol::Adbench,
        labeled: anoonly::protocol::Labeled::Ratio(0.1),
        seed,
        ablation: None,
        aucroc,
        aucpr: 0.5,
        aucpr_normal: 0.5,
        aucpr_normal_official: 0.5,
        fit_seconds: 1.0,
        method_params: None,
        details: Default::default(),
    }
}

#[test]
fn family_averaging_by_hand() {
    // Family A has three files, B one: B must weigh as much as all of A.
    let rs = [
        rec("A_1", "A", 0, 0.60),
        rec("A_2", "A", 0, 0.70),
        rec("A_3", "A", 0, 0.80),
        rec("B_1", "B", 0, 0.90),
        rec("A_1", "A", 1, 0.50),
        rec("A_2", "A", 1, 0.50),
        rec("A_3", "A", 1, 0.80),
        rec("B_1", "B", 1, 0.70),
    ];
    let refs: Vec<&ResultRecord> = rs.iter().collect();
    let fm = family_means(&refs, Metric::AucRoc);
    // Seed 0: A = 0.7, B = 0.9, mean 0.8. Seed 1: A = 0.6, B = 0.7, mean 0.65.
    let (a, na) = fm.families["A"];
    let (b, nb) = fm.families["B"];
    assert_eq!((na, nb), (3, 1));
    let close = |x: f64, y: f64| (x - y).abs() < 1e-12;
    assert!(
        close(a.mean, 0.65) && close(a.sd, (0.005f64).sqrt()),
        "{a:?}"
    );
    assert!(close(b.mean, 0.8) && close(b.sd, (0.02f64).sqrt()), "{b:?}");
    assert!(close(fm.mean.mean, 0.725), "{:?}", fm.mean);
    assert!(close(fm.mean.sd, (0.01125f64).sqrt()), "{:?}", fm.mean);
    // A pooled mean over files would give (0.6+0.7+0.8+0.9)/4 = 0.75 at seed 0: not this.
    assert_eq!(fm.seeds, vec![0, 1]);
}

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join("bench").join(name)
}

/// The report of a fixed results file (real lines from a shared-data run, shuffled)
/// against the stored expected report. Set `ANOONLY_BLESS=1` to rewrite the expected
/// files after an intended change, then review the diff.
#[test]
fn report_from_fixed_results_matches_the_stored_file() {
    let dir = fixture("");
    let results = read_results(&dir).unwrap();
    assert!(results.len() >= 20);
    let md = markdown(&results, &[]);
    let csv = anoonly_bench::report::csv(&results);
    if std::env::var_os("ANOONLY_BLESS").is_some() {
        std::fs::write(fixture("expected_report.md"), &md).unwrap();
        std::fs::write(fixture("expected_report.csv"), &csv).unwrap();
    }
    assert_eq!(
        md,
        std::fs::read_to_string(fixture("expected_report.md")).unwrap()
    );
    assert_eq!(
        csv,
        std::fs::read_to_string(fixture("expected_report.csv")).unwrap()
    );
    // The order of the lines does not matter.
    let mut reversed = results.clone();
    reversed.reverse();
    assert_eq!(markdown(&reversed, &[]), md);
}

/// `anoonly bench` killed with SIGKILL mid-run and resumed gives the same report.csv as an
/// uninterrupted run (report.md differs only in fit times).
#[cfg(unix)]
#[test]
fn sigkilled_bench_resumes_to_the_same_report() {
    let bin = env!("CARGO_BIN_EXE_anoonly");
    let tmp = tempfile::tempdir().unwrap();
    let grid = tmp.path().join("grid.toml");
    std::fs::write(
        &grid,
        "synthetic = [0, 1]\nmethods = [\"deepsad\"]\nseeds = [0, 1, 2]\n",
    )
    .unwrap();
    let args = |out: &Path| {
        let mut c = Command::new(bin);
        c.args(["bench", "--quiet", "--threads", "1", "--grid"])
            .arg(&grid)
            .arg("--out")
            .arg(out);
        c
    };
    let whole = tmp.path().join("whole");
    assert!(args(&whole).status().unwrap().success());

    let killed = tmp.path().join("killed");
    let mut child = args(&killed).spawn().unwrap();
    let results = killed.join(RESULTS_FILE);
    let t0 = std::time::Instant::now();
    loop {
        let n = std::fs::read_to_string(&results)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if n >= 2 || t0.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = std::fs::read_to_string(&results).unwrap().lines().count();
    assert!(done < 12, "the run finished before it was killed");
    let mut resume = args(&killed);
    resume.arg("--resume");
    assert!(resume.status().unwrap().success());
    assert_same_run(&killed, &whole);
}

#[test]
fn quick_suite_writes_report_and_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("q");
    let grid = Grid {
        settings: vec![Setting::Clean, Setting::Noisy],
        gamma_la: vec![0.05, 0.1],
        ..small_grid()
    };
    let s = anoonly_bench::run(&grid, &opts(&out, false, 2), &QuietRun).unwrap();
    assert_eq!(s.failed, 0);
    for f in [
        "report.md",
        "report.csv",
        "fig4_aucpr_boxplot.svg",
        "fig4_aucpr_boxplot.png",
        "fig5_gamma_la.png",
        "fig8_label_noise.png",
    ] {
        let p = out.join(f);
        assert!(p.is_file(), "{f} missing");
        assert!(std::fs::metadata(&p).unwrap().len() > 1000, "{f} is empty");
    }
    let png = std::fs::read(out.join("fig5_gamma_la.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(out.join("fig8_label_noise.svg")).unwrap();
    assert!(svg.contains("label noise") && svg.contains("deepsad+AnoOnly"));
    // No temp files left behind.
    for e in std::fs::read_dir(&out).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "left {name}");
    }
}

/// Count mode (`n_labeled`) beside a ratio: its own cells (keyed `n_labeled=N`), records
/// saying the mode, its own report sections, an `n_labeled` CSV column and the count sweep
/// figure; a count above a file's train anomalies fails that cell with the counts named.
#[test]
fn count_mode_cells_records_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("nla");
    let grid = Grid {
        methods: vec![MethodKind::DevNet],
        seeds: vec![0],
        gamma_la: vec![0.1],
        n_labeled: vec![5, 10, 1000],
        ..small_grid()
    };
    let s = anoonly_bench::run(&grid, &opts(&out, false, 2), &QuietRun).unwrap();
    // synthetic_0 has 105 train anomalies: 1000 is refused for both variants.
    assert_eq!((s.cells, s.failed), (8, 2), "{s:?}");
    let failures = std::fs::read_to_string(out.join("failures.jsonl")).unwrap();
    assert!(
        failures.contains("n_labeled = 1000 but the train split has 105 anomalies"),
        "{failures}"
    );
    let lines = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut counts = 0;
    for line in lines.lines() {
        let key = line.split('"').nth(3).unwrap();
        if key.contains("/n_labeled=") {
            counts += 1;
            assert!(line.contains("\"n_labeled_requested\":"), "{line}");
            assert!(!line.contains("\"gamma_la\""), "{line}");
            let k: usize = key
                .split("n_labeled=")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(line.contains(&format!("\"n_labeled\":{k},")), "{line}");
        } else {
            assert!(key.contains("/gamma_la=0.1/"), "{key}");
            assert!(line.contains("\"gamma_la\":0.1,"), "{line}");
        }
    }
    assert_eq!(counts, 4);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for title in [
        "## clean · adbench · gamma_la 10%",
        "## clean · adbench · n_labeled 5",
        "## clean · adbench · n_labeled 10",
    ] {
        assert!(report.contains(title), "{title}");
    }
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert!(
        csv.starts_with("setting,protocol,gamma_la,n_labeled,ablation,"),
        "{csv}"
    );
    assert!(csv.contains("\nclean,adbench,0.1,,,devnet,"), "{csv}");
    assert!(csv.contains("\nclean,adbench,,5,,devnet,"), "{csv}");
    assert!(out.join("fig5_n_labeled.png").is_file());
    assert!(
        !out.join("fig5_gamma_la.png").exists(),
        "one ratio is no sweep"
    );
}

/// `anoonly bench ARGS --out DIR` (the binary), its exit status and stderr.
fn bench_cli(args: &[&str], out: &Path) -> (bool, Option<i32>, String) {
    let mut all = vec!["bench", "--quiet"];
    all.extend_from_slice(args);
    let out = out.to_string_lossy().into_owned();
    all.extend_from_slice(&["--out", &out]);
    let o = common::cli(&all);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.success(), o.status.code(), stderr)
}

/// FEAWAD cells of built-in data at a small budget: 2 datasets x {base, AnoOnly}, one seed.
const FEAWAD_QUICK: [&str; 16] = [
    "--threads",
    "2",
    "--suite",
    "quick",
    "--methods",
    "feawad",
    "--seeds",
    "0",
    "--set",
    "feawad:pretrain_epochs=3",
    "--set",
    "feawad:epochs=2",
    "--set",
    "feawad:steps_per_epoch=5",
    "--set",
    "feawad:batch_size=32",
];

/// `bench --cache DIR` gives report.csv byte-identical to computing FEAWAD's pretraining in
/// every cell (`--no-share`) and to sharing it in memory only, on a first run (which fills
/// the directory) and on a second one (which computes no pretraining: it reads them all).
#[test]
fn bench_cache_gives_the_same_report_as_computing_per_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cache_arg = cache.to_string_lossy().into_owned();
    let run = |name: &str, extra: &[&str]| -> (PathBuf, String) {
        let out = tmp.path().join(name);
        let mut args = FEAWAD_QUICK.to_vec();
        args.extend_from_slice(extra);
        let (ok, _, stderr) = bench_cli(&args, &out);
        assert!(ok, "{name}: {stderr}");
        (out, stderr)
    };
    let (per_cell, err) = run("per-cell", &["--no-share"]);
    assert!(!err.contains("autoencoder pretraining"), "{err}");
    let (memory, err) = run("memory", &[]);
    assert!(
        err.contains("feawad's autoencoder pretraining: 2 computed, 2 shared"),
        "{err}"
    );
    let (first, err) = run("first", &["--cache", &cache_arg]);
    assert!(
        err.contains("feawad's autoencoder pretraining: 2 computed, 2 shared"),
        "{err}"
    );
    let files = std::fs::read_dir(cache.join(anoonly::train::shared::STAGE_DIR))
        .unwrap()
        .count();
    assert_eq!(files, 2, "one file per pretraining");
    let (second, err) = run("second", &["--cache", &cache_arg]);
    assert!(
        err.contains(
            "feawad's autoencoder pretraining: 0 computed, 4 shared (2 from memory, 2 from"
        ),
        "{err}"
    );
    for dir in [&memory, &first, &second] {
        assert_same_run(dir, &per_cell);
    }
}

/// `bench --list` prints the grid's cells, one key per line, and runs nothing (no --out
/// needed); the lists of a grid's shards are disjoint and join to the whole list.
#[test]
fn bench_list_prints_the_cells_and_runs_nothing() {
    let list = |extra: &[&str]| -> (Vec<String>, String) {
        let mut args = vec!["bench", "--suite", "quick", "--list"];
        args.extend_from_slice(extra);
        let o = common::cli(&args);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(o.status.success(), "{stderr}");
        let keys = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        (keys, stderr)
    };
    let (all, err) = list(&[]);
    let want: Vec<String> = "quick"
        .parse::<Suite>()
        .unwrap()
        .grids(Path::new("unused"))
        .unwrap()
        .iter()
        .flat_map(|g| g.cells().unwrap())
        .map(|c| c.key())
        .collect();
    assert_eq!(all.len(), want.len());
    assert_eq!(
        all.iter().collect::<BTreeSet<_>>(),
        want.iter().collect::<BTreeSet<_>>()
    );
    assert!(
        err.contains(&format!("{} cells (nothing run)", all.len())),
        "{err}"
    );
    let mut joined = BTreeSet::new();
    for i in 1..=3 {
        let (part, err) = list(&["--shard", &format!("{i}/3")]);
        assert!(err.contains(&format!("in shard {i}/3")), "{err}");
        for k in part {
            assert!(joined.insert(k), "a cell in two shards");
        }
    }
    assert_eq!(joined, all.into_iter().collect::<BTreeSet<_>>());
    // A bad grid fails here, before anything runs.
    let o = common::cli(&["bench", "--suite", "nosuch", "--list"]);
    assert!(!o.status.success());
}

/// A run with failed cells exits 1 after writing its report (so a script notices), unless
/// `--allow-failed-cells`; `bench merge` prints how many cells failed.
#[test]
fn bench_exits_1_when_cells_failed_and_merge_counts_them() {
    let tmp = tempfile::tempdir().unwrap();
    // DeepSAD with a layer too wide to build fails at every cell; DevNet runs.
    let args = [
        "--threads",
        "2",
        "--suite",
        "quick",
        "--seeds",
        "0",
        "--epochs",
        "2",
        "--set",
        "deepsad:hidden=[100000000000]",
    ];
    let failed = tmp.path().join("failed");
    let (ok, code, err) = bench_cli(&args, &failed);
    assert!(!ok);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("4 cell(s) failed"), "{err}");
    assert!(
        failed.join("report.md").is_file(),
        "the report is written first"
    );
    assert!(failed.join("failures.jsonl").is_file());

    let allowed = tmp.path().join("allowed");
    let mut with = args.to_vec();
    with.push("--allow-failed-cells");
    let (ok, _, err) = bench_cli(&with, &allowed);
    assert!(ok, "{err}");
    assert!(err.contains("4 failed"), "{err}");

    let merged = tmp.path().join("merged");
    let o = common::cli(&[
        "bench",
        "merge",
        &failed.to_string_lossy(),
        &allowed.to_string_lossy(),
        "--out",
        &merged.to_string_lossy(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("merged 4 cells (4 failed)"), "{err}");
    assert_same_run(&merged, &failed);
}

/// `bench report` on a directory without `results.jsonl` (a snapshot that ships only its
/// report) fails naming the file and leaves the report it holds as it was.
#[test]
fn report_without_results_is_an_error_and_keeps_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let report = tmp.path().join("report.md");
    std::fs::write(&report, "# a report kept without its results\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_anoonly"))
        .args(["bench", "report"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(RESULTS_FILE), "{err}");
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        "# a report kept without its results\n"
    );
}
