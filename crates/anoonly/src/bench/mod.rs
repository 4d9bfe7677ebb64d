//! `anoonly bench`: runs a grid of evaluation cells in parallel and writes, into one
//! directory, `results.jsonl` (a line per finished cell, so a killed run loses at most
//! the cells in flight and `--resume` recomputes nothing finished), `report.md` and
//! `report.csv` beside the paper's tables, and the figures as SVG and PNG.
//!
//! Each cell runs single-threaded on one worker of a rayon pool and takes its randomness
//! from its key alone ([`grid::Cell::key`]), so results do not depend on the thread count,
//! the shard or the order in which cells finish.

pub mod cd_diagram;
pub mod figures;
pub mod grid;
pub mod paper;
pub mod plots;
pub mod report;
pub mod results;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::data::{self, DataError, Dataset, LoadOptions};
use crate::experiment::{evaluate_once, EvalConfig};
use crate::methods::MethodKind;
use crate::output::write_atomic;
pub use grid::{Cell, DatasetRef, Grid, GridError, Override, Shard, Source, Suite, Variant};
pub use results::{Failure, ResultsError, StoredResult};

/// How a run shows its progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// An indicatif bar (cells done, running, failed, ETA) on a terminal.
    Bar,
    /// One line per finished cell on stderr (logs, batch schedulers).
    Lines,
    Quiet,
}

/// Options of [`run`] besides the grid.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Continue a run: skip cells whose key is already in `results.jsonl`.
    pub resume: bool,
    /// Worker threads, one cell each.
    pub threads: usize,
    pub shard: Option<Shard>,
    pub progress: Progress,
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunSummary {
    /// Cells of the grid (of the shard, with `--shard`).
    pub cells: usize,
    /// Cells found finished in `results.jsonl` and skipped.
    pub skipped: usize,
    pub ran: usize,
    pub failed: usize,
    pub wall_seconds: f64,
    /// The report and figure files written.
    pub outputs: Vec<PathBuf>,
}

/// Why a bench run or report failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Grid(#[from] GridError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Figure(#[from] figures::FigureError),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("thread pool: {0}")]
    Pool(String),
}

/// A rough relative cost of a cell, to start the slow ones first (longest job first keeps
/// the last minutes of a run from waiting on one FEAWAD cell).
fn cost(cell: &Cell, rows: usize) -> f64 {
    let size = (rows.max(1000) as f64) / 1000.0;
    match cell.method {
        MethodKind::Feawad => 100.0,
        MethodKind::PReNet => 2.0 * size,
        MethodKind::DeepSad => 1.0 * size,
        MethodKind::DevNet => 0.3 * size,
        MethodKind::Xgbod => 4.0 * size,
        // Measured CPU: GANomaly 7 s on CIFAR10_0; REPEN 18-32 s whatever the size (50 000 steps).
        MethodKind::Ganomaly => 3.0 * size,
        MethodKind::Repen => 20.0,
    }
}

/// Loads a grid dataset, named as the grid names it (records and reports group by it).
fn load(d: &DatasetRef) -> Result<Dataset, DataError> {
    let mut ds = match &d.source {
        Source::File(p) => data::load(p, &LoadOptions::default())?,
        Source::Synthetic(seed) => data::synthetic::demo_dataset(*seed),
    };
    ds.name = d.name.clone();
    Ok(ds)
}

/// Runs the grid's cells not yet in `opts.out`, then rebuilds the report and figures from
/// everything in `opts.out`.
pub fn run(grid: &Grid, opts: &RunOptions) -> Result<RunSummary, BenchError> {
    run_grids(std::slice::from_ref(grid), opts)
}

/// [`run`] over the joined cells of several grids (a suite such as `ablation`).
pub fn run_grids(grids: &[Grid], opts: &RunOptions) -> Result<RunSummary, BenchError> {
    let t0 = Instant::now();
    let mut cells = grid::joined_cells(grids)?;
    if let Some(s) = opts.shard {
        cells = s.select(cells);
    }
    let files = results::open_run(&opts.out, opts.resume)?;
    let grid_json = serde_json::json!({ "grids": grids, "shard": opts.shard.map(|s| format!("{}/{}", s.index, s.count)) });
    let grid_path = opts.out.join("grid.json");
    write_atomic(&grid_path, grid_json.to_string().as_bytes())
        .map_err(|e| BenchError::Io(grid_path, e))?;

    let done: HashSet<&str> = files.done.iter().map(|r| r.key.as_str()).collect();
    let todo: Vec<(Cell, &Grid)> = cells
        .iter()
        .filter(|(c, _)| !done.contains(c.key().as_str()))
        .cloned()
        .collect();
    let skipped = cells.len() - todo.len();

    // Every dataset once, before any cell: a bad file stops the run before work is spent.
    let mut datasets: HashMap<DatasetRef, Arc<Dataset>> = HashMap::new();
    for (c, _) in &todo {
        if !datasets.contains_key(&c.dataset) {
            datasets.insert(c.dataset.clone(), Arc::new(load(&c.dataset)?));
        }
    }
    let mut queue: Vec<(f64, (Cell, &Grid))> = todo
        .into_iter()
        .map(|cg| (cost(&cg.0, datasets[&cg.0.dataset].n_rows()), cg))
        .collect();
    queue.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1 .0.key().cmp(&b.1 .0.key()))
    });
    let queue: Vec<(Cell, &Grid)> = queue.into_iter().map(|(_, cg)| cg).collect();

    let bar = match opts.progress {
        Progress::Bar => {
            let b = ProgressBar::with_draw_target(
                Some(queue.len() as u64),
                ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} cells · {msg} · ETA {eta}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.enable_steady_tick(Duration::from_millis(500));
            Some(b)
        }
        _ => None,
    };
    let next = AtomicUsize::new(0);
    let running = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let first_error: Mutex<Option<ResultsError>> = Mutex::new(None);
    let total = queue.len();
    let status = |bar: &Option<ProgressBar>| {
        if let Some(b) = bar {
            b.set_message(format!(
                "{} running, {} failed",
                running.load(Ordering::SeqCst),
                failed.load(Ordering::SeqCst)
            ));
        }
    };
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some((cell, grid)) = queue.get(i) else {
            break;
        };
        if first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
            break;
        }
        running.fetch_add(1, Ordering::SeqCst);
        status(&bar);
        let outcome = grid
            .config(cell)
            .map_err(|e| e.to_string())
            .and_then(|(fit, split)| {
                let ds = &datasets[&cell.dataset];
                fit.check_network(ds.n_features())?;
                evaluate_once(ds, &EvalConfig { fit, split }, cell.seed, &mut |_| {})
                    .map_err(|e| e.to_string())
            });
        let written = match &outcome {
            Ok(rec) => files.results.append(&results::ResultLine::new(cell, rec)),
            Err(e) => {
                failed.fetch_add(1, Ordering::SeqCst);
                files.failures.append(&Failure {
                    key: cell.key(),
                    error: e.clone(),
                })
            }
        };
        running.fetch_sub(1, Ordering::SeqCst);
        let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
        if let Err(e) = written {
            if let Ok(mut slot) = first_error.lock() {
                slot.get_or_insert(e);
            }
        }
        match (&bar, opts.progress) {
            (Some(b), _) => {
                b.inc(1);
                status(&bar);
            }
            (None, Progress::Lines) => {
                let what = match &outcome {
                    Ok(r) => format!(
                        "AUCROC {:.1} AUCPR {:.1} fit {:.2}s",
                        100.0 * r.aucroc,
                        100.0 * r.aucpr,
                        r.fit_seconds
                    ),
                    Err(e) => format!("FAILED: {e}"),
                };
                eprintln!("[{n}/{total}] {}: {what}", cell.key());
            }
            _ => {}
        }
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| BenchError::Pool(e.to_string()))?;
    pool.scope(|s| {
        for _ in 0..opts.threads.max(1) {
            s.spawn(|_| worker());
        }
    });
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e.into());
    }
    let outputs = write_report(&opts.out)?;
    Ok(RunSummary {
        cells: cells.len(),
        skipped,
        ran: finished.load(Ordering::SeqCst),
        failed: failed.load(Ordering::SeqCst),
        wall_seconds: t0.elapsed().as_secs_f64(),
        outputs,
    })
}

/// Rebuilds `report.md`, `report.csv` and the figures of a run directory from its
/// `results.jsonl` (and `failures.jsonl`).
pub fn write_report(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let res = results::read_results(dir)?;
    let fails = results::read_failures(dir, &res)?;
    write_report_from(dir, &res, &fails)
}

fn write_report_from(
    dir: &Path,
    res: &[StoredResult],
    fails: &[Failure],
) -> Result<Vec<PathBuf>, BenchError> {
    let sections = report::sections(res);
    let planned = plots::plan(&sections);
    let mut outputs = Vec::new();
    for p in &planned {
        outputs.extend(p.figure.write(dir, &p.name)?);
    }
    let mut md = report::markdown_of(&sections, res.len(), fails);
    if !planned.is_empty() {
        md.push_str("## Figures\n\n");
        for p in &planned {
            md.push_str(&format!(
                "- `{0}.png` / `{0}.svg`: {1}\n\n  ![{0}]({0}.png)\n",
                p.name, p.caption
            ));
        }
    }
    for (name, text) in [("report.md", md), ("report.csv", report::csv_of(&sections))] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).map_err(|e| BenchError::Io(path.clone(), e))?;
        outputs.push(path);
    }
    Ok(outputs)
}

/// `bench merge`: joins the results of several run directories (shards) into `out`,
/// one line per key (the first directory holding a key wins; lines are kept whole), and
/// builds its report. The shards' failed cells that no directory finished go to
/// `out/failures.jsonl` and the report's list of failed cells, as in a one-process run: a
/// merged report must not look complete when cells of a shard failed. Returns the number
/// of distinct finished cells.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<(usize, Vec<PathBuf>), BenchError> {
    std::fs::create_dir_all(out).map_err(|e| BenchError::Io(out.to_path_buf(), e))?;
    let mut seen = HashSet::new();
    let mut text = String::new();
    let mut all = Vec::new();
    let mut failed: BTreeMap<String, Failure> = BTreeMap::new();
    for d in dirs {
        let lines = results::read_raw_results(d)?;
        let own: Vec<StoredResult> = lines.iter().map(|(_, r)| r.clone()).collect();
        for (line, r) in lines {
            if seen.insert(r.key.clone()) {
                text.push_str(&line);
                text.push('\n');
                all.push(r);
            }
        }
        for f in results::read_failures(d, &own)? {
            failed.entry(f.key.clone()).or_insert(f);
        }
    }
    let fails: Vec<Failure> = failed
        .into_values()
        .filter(|f| !seen.contains(&f.key))
        .collect();
    let path = out.join(results::RESULTS_FILE);
    write_atomic(&path, text.as_bytes()).map_err(|e| BenchError::Io(path.clone(), e))?;
    let fpath = out.join(results::FAILURES_FILE);
    let mut ftext = String::new();
    for f in &fails {
        let line = serde_json::to_string(f)
            .map_err(|e| BenchError::Io(fpath.clone(), std::io::Error::other(e)))?;
        ftext.push_str(&line);
        ftext.push('\n');
    }
    write_atomic(&fpath, ftext.as_bytes()).map_err(|e| BenchError::Io(fpath.clone(), e))?;
    let outputs = write_report_from(out, &all, &fails)?;
    Ok((all.len(), outputs))
}
