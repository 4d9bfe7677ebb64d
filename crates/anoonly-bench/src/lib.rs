//! `anoonly bench`: runs a grid of evaluation cells in parallel and writes, into one
//! directory, `results.jsonl` (a line per finished cell, so a killed run loses at most
//! the cells in flight and `--resume` recomputes nothing finished), `report.md` and
//! `report.csv` beside the paper's tables, and (feature `plots`) the figures as SVG and PNG.
//!
//! The crate owns everything about experiment grids and nothing about a method: the grids
//! ([`grid`]: cells and keys, typed ablation overrides, the TOML grid format and the named
//! suites shipped as `suites/*.toml`, shards), the run (this module: planning, loading,
//! workers, observers, `bench merge`; [`order`]: queue and shards of shared work), the
//! results files ([`results`]: one typed record per line, with a schema version), the
//! reports ([`sections`], [`evidence`], [`report`]; the paper's values from
//! `data/paper.toml` through [`paper`]), their statistics ([`stats`]) and figures
//! (`plots`, `figures`, `cd_diagram`, feature `plots`). What a method is comes from the core's
//! registry ([`anoonly::methods::MethodKind`]).
//!
//! Each cell runs single-threaded on one worker of a rayon pool and takes its randomness
//! from its key alone ([`grid::Cell::key`]), so results do not depend on the thread count,
//! the shard or the order in which cells finish. A run reports its progress to a
//! [`BenchObserver`] (the CLI draws a terminal bar with it, Python its own or none).
//!
//! Cells share exact work ([`anoonly::train::shared`]): a label-free stage a method declares
//! (an autoencoder pretraining) is computed once per run for all the cells that would
//! compute the same one (base and AnoOnly, the clean setting's gamma_la values, ablations of
//! later stages), and with [`RunOptions::cache`] once across runs, shards and resumes.
//! Results are the same, bit for bit, as computing it per cell. [`order`] decides the queue
//! and the shards so that it rarely waits.
//!
//! ```
//! use anoonly_bench::{build_grids, run_grids, GridAxes, GridSource, QuietRun, RunOptions, Suite};
//! use anoonly::methods::MethodKind;
//!
//! // The `quick` suite (built-in data), DevNet only, 3 epochs, one seed.
//! let axes = GridAxes {
//!     methods: vec![MethodKind::DevNet],
//!     seeds: vec![0],
//!     epochs: Some(3),
//!     ..GridAxes::default()
//! };
//! let quick: Suite = "quick".parse()?;
//! let grids = build_grids(&GridSource::Suite(quick), "no-data-needed".as_ref(), &axes)?;
//! let out = tempfile::tempdir()?;
//! let opts = RunOptions {
//!     out: out.path().to_path_buf(),
//!     resume: false,
//!     threads: 2,
//!     matmul_threads: 1,
//!     shard: None,
//!     share: true,
//!     cache: None,
//! };
//! let summary = run_grids(&grids, &opts, &QuietRun)?;
//! // 2 synthetic datasets x DevNet x {base, anoonly} x 1 seed.
//! assert_eq!((summary.cells, summary.ran, summary.failed), (4, 4, 0));
//! assert!(out.path().join("report.csv").is_file());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "plots")]
pub mod cd_diagram;
pub mod evidence;
#[cfg(feature = "plots")]
pub mod fig10;
#[cfg(feature = "plots")]
pub mod figures;
pub mod grid;
pub mod order;
pub mod paper;
#[cfg(feature = "plots")]
pub mod plots;
pub mod report;
pub mod results;
pub mod sections;
pub mod stats;
#[cfg(feature = "plots")]
pub mod tsne;

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anoonly::data::{self, DataError, Dataset, LoadOptions};
use anoonly::experiment::{evaluate_shared, EvalConfig, EvalRecord};
use anoonly::methods::MethodKind;
use anoonly::output::write_atomic;
use anoonly::train::shared::{
    CacheDirError, SharedStages, StageCache, StageStats, DEFAULT_MEMORY_BUDGET,
};
use anoonly::train::Silent;
use anoonly::train::StageSpec;
pub use grid::{
    build_grids, Cell, DatasetRef, Grid, GridAxes, GridError, GridSource, Override, Shard, Source,
    Suite, Switch, Variant,
};
pub use results::{Failure, ResultRecord, ResultsError, SCHEMA_VERSION};

/// Options of [`run`] besides the grid.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub out: PathBuf,
    /// Continue a run: skip cells whose key is already in `results.jsonl`.
    pub resume: bool,
    /// Worker threads, one cell each.
    pub threads: usize,
    /// Matrix-product threads of each worker's cell ([`anoonly::nn::with_matmul_threads`]).
    /// 1 keeps `threads` workers on `threads` cores; results do not depend on it.
    pub matmul_threads: usize,
    pub shard: Option<Shard>,
    /// Share exact work between the cells of the run (the methods' label-free stages, in
    /// memory): the same results, bit for bit, as computing it per cell. `false` computes it per
    /// cell (for measuring what sharing saves).
    pub share: bool,
    /// A directory where shared work is kept across runs, shards and resumes (`--cache`),
    /// content-addressed ([`anoonly::train::shared`]); with `share` only.
    pub cache: Option<PathBuf>,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Cells this run computes (the grid's, minus the shard's others and those already done).
    pub total: usize,
    /// Cells found finished in `results.jsonl` and skipped.
    pub skipped: usize,
    /// Cells finished by this run (failed ones included).
    pub finished: usize,
    pub running: usize,
    pub failed: usize,
}

/// How a cell ended.
#[derive(Clone, Copy, Debug)]
pub enum CellOutcome<'a> {
    Done(&'a EvalRecord),
    Failed(&'a str),
}

/// What watches a bench run. Called from the worker threads (hence `&self` and `Sync`);
/// every method has a default that does nothing.
pub trait BenchObserver: Sync {
    /// The cells are planned and the datasets loaded; none has started.
    fn planned(&self, _counts: Counts) {}

    /// `cell` started on a worker.
    fn cell_started(&self, _cell: &Cell, _counts: Counts) {}

    /// `cell` finished (its line is written); `Break` stops the run: no new cell starts,
    /// the cells in flight finish, and [`run`] returns [`BenchError::Interrupted`].
    fn cell_finished(
        &self,
        _cell: &Cell,
        _outcome: CellOutcome<'_>,
        _counts: Counts,
    ) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// Every cell has finished; the report is written next.
    fn finished(&self, _counts: Counts) {}

    /// A figure that needs more than the results is being computed (Fig. 10's refits and
    /// t-SNE, tens of seconds): `what` says what.
    fn figure_started(&self, _what: &str) {}
}

/// A [`BenchObserver`] that shows nothing and never stops a run.
pub struct QuietRun;

impl BenchObserver for QuietRun {}

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
    /// What the run's store of shared stages did, per label-free stage used (empty without
    /// such stages or sharing).
    pub stages: Vec<SharedStage>,
    /// The report and figure files written.
    pub outputs: Vec<PathBuf>,
}

/// What a run's store did for one label-free stage of one method.
#[derive(Clone, Copy, Debug)]
pub struct SharedStage {
    pub method: MethodKind,
    /// The stage as the method declares it.
    pub stage: StageSpec,
    pub stats: StageStats,
}

impl RunSummary {
    /// The counts of every shared stage added.
    pub fn stage_totals(&self) -> StageStats {
        let mut total = StageStats::default();
        for s in &self.stages {
            total.add(&s.stats);
        }
        total
    }
}

/// The store's counts per stage, each with its method and declaration, in registry and
/// declaration order.
fn shared_stages(store: &SharedStages) -> Vec<SharedStage> {
    let mut found: Vec<(usize, usize, SharedStage)> = store
        .stage_stats()
        .into_iter()
        .filter_map(|(id, stats)| {
            let m = MethodKind::ALL.iter().position(|m| m.name() == id.method)?;
            let method = MethodKind::ALL[m];
            let i = method.stages().iter().position(|s| s.name == id.stage)?;
            let stage = method.stages()[i];
            Some((
                m,
                i,
                SharedStage {
                    method,
                    stage,
                    stats,
                },
            ))
        })
        .collect();
    found.sort_by_key(|&(m, i, _)| (m, i));
    found.into_iter().map(|(_, _, s)| s).collect()
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
    #[cfg(feature = "plots")]
    #[error(transparent)]
    Figure(#[from] figures::FigureError),
    /// Fig. 10's embeddings could not be computed or read.
    #[error("{0}: {1}")]
    Fig10(PathBuf, String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("thread pool: {0}")]
    Pool(String),
    #[error(transparent)]
    Cache(#[from] CacheDirError),
    #[error("the run was interrupted after {finished} of {total} cells; `--resume` continues it")]
    Interrupted { finished: usize, total: usize },
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
pub fn run(
    grid: &Grid,
    opts: &RunOptions,
    observer: &dyn BenchObserver,
) -> Result<RunSummary, BenchError> {
    run_grids(std::slice::from_ref(grid), opts, observer)
}

/// [`run`] over the joined cells of several grids (a suite such as `ablation`): plan the
/// cells, load the datasets, order the cells, run them on the workers, write the report.
pub fn run_grids(
    grids: &[Grid],
    opts: &RunOptions,
    observer: &dyn BenchObserver,
) -> Result<RunSummary, BenchError> {
    let t0 = Instant::now();
    let shared = match (opts.share, &opts.cache) {
        (false, _) => None,
        (true, None) => Some(SharedStages::in_memory(DEFAULT_MEMORY_BUDGET)),
        (true, Some(dir)) => Some(SharedStages::in_memory(DEFAULT_MEMORY_BUDGET).with_dir(dir)?),
    };
    let plan = plan(grids, opts)?;
    let datasets = load_datasets(&plan.todo)?;
    let queue = order::queue(plan.todo, |c| datasets[&c.dataset].n_rows());
    let store = shared.as_ref().map(|s| s as &dyn StageCache);
    let counts = run_cells(
        &queue,
        &datasets,
        &plan.files,
        plan.skipped,
        opts,
        observer,
        store,
    )?;
    #[cfg(feature = "plots")]
    update_fig10(grids, opts, observer)?;
    let outputs = write_report(&opts.out)?;
    Ok(RunSummary {
        cells: plan.cells,
        skipped: plan.skipped,
        ran: counts.finished,
        failed: counts.failed,
        wall_seconds: t0.elapsed().as_secs_f64(),
        stages: shared.map(|s| shared_stages(&s)).unwrap_or_default(),
        outputs,
    })
}

/// Computes Fig. 10's embeddings ([`fig10::update`]) for the cells of this run (of its
/// shard) that have finished.
#[cfg(feature = "plots")]
fn update_fig10(
    grids: &[Grid],
    opts: &RunOptions,
    observer: &dyn BenchObserver,
) -> Result<(), BenchError> {
    let cells = selected(grids, opts.shard)?;
    let finished: std::collections::HashSet<String> = results::read_results(&opts.out)?
        .into_iter()
        .map(|r| r.key)
        .collect();
    let pairs = fig10::pairs(&cells, fig10::FAMILIES);
    if pairs.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = pairs
        .iter()
        .map(|(c, _, _)| c.dataset.name.as_str())
        .collect();
    observer.figure_started(&format!(
        "{}: t-SNE of DeepSAD's features on {} (refits of the seed-0 cells)",
        fig10::NAME,
        names.join(", ")
    ));
    fig10::update(
        &cells,
        &finished,
        &opts.out,
        fig10::FAMILIES,
        &fig10::Fig10Settings::default(),
    )?;
    Ok(())
}

/// The cells a run of `grids` holds (those of `shard`, dealt as a run deals them), in
/// canonical order: what `bench --list` prints, without reading data or writing anything.
pub fn cells(grids: &[Grid], shard: Option<Shard>) -> Result<Vec<Cell>, BenchError> {
    Ok(selected(grids, shard)?
        .into_iter()
        .map(|(c, _)| c)
        .collect())
}

/// The grids' joined cells, those of `shard` only when given ([`order::select_shard`]).
fn selected(grids: &[Grid], shard: Option<Shard>) -> Result<Vec<(Cell, &Grid)>, GridError> {
    let cells = grid::joined_cells(grids)?;
    Ok(match shard {
        Some(s) => order::select_shard(s, cells),
        None => cells,
    })
}

/// The cells a run computes, and its open results files.
struct Plan<'g> {
    /// Cells of the grid (of the shard).
    cells: usize,
    /// Those already in `results.jsonl`.
    skipped: usize,
    todo: Vec<(Cell, &'g Grid)>,
    files: results::RunFiles,
}

/// Joins the grids' cells, keeps the shard's, opens the run directory (writing
/// `grid.json`) and leaves out the cells already finished there.
fn plan<'g>(grids: &'g [Grid], opts: &RunOptions) -> Result<Plan<'g>, BenchError> {
    let cells = selected(grids, opts.shard)?;
    let files = results::open_run(&opts.out, opts.resume)?;
    let grid_json = serde_json::json!({ "grids": grids, "shard": opts.shard.map(|s| format!("{}/{}", s.index, s.count)) });
    let grid_path = opts.out.join("grid.json");
    write_atomic(&grid_path, grid_json.to_string().as_bytes())
        .map_err(|e| BenchError::Io(grid_path, e))?;
    let done: HashMap<&str, &ResultRecord> =
        files.done.iter().map(|r| (r.key.as_str(), r)).collect();
    let n_cells = cells.len();
    let mut todo: Vec<(Cell, &Grid)> = Vec::new();
    for (c, g) in cells {
        match done.get(c.key().as_str()) {
            Some(stored) => {
                let (fit, _) = g.config(&c).map_err(GridError::from)?;
                results::check_same_config(&opts.out, stored, &fit)?;
            }
            None => todo.push((c, g)),
        }
    }
    Ok(Plan {
        cells: n_cells,
        skipped: n_cells - todo.len(),
        todo,
        files,
    })
}

/// Every dataset of the cells to run, once, before any cell: a bad file stops the run
/// before work is spent.
fn load_datasets(todo: &[(Cell, &Grid)]) -> Result<HashMap<DatasetRef, Arc<Dataset>>, BenchError> {
    let mut datasets = HashMap::new();
    for (c, _) in todo {
        if !datasets.contains_key(&c.dataset) {
            datasets.insert(c.dataset.clone(), Arc::new(load(&c.dataset)?));
        }
    }
    Ok(datasets)
}

/// One cell: its configuration, the network check, the evaluation (its shared work through
/// `shared`).
fn run_cell(
    cell: &Cell,
    grid: &Grid,
    ds: &Dataset,
    shared: Option<&dyn StageCache>,
) -> Result<EvalRecord, String> {
    let (fit, split) = grid.config(cell).map_err(|e| e.to_string())?;
    fit.check_network(ds.n_features())
        .map_err(|e| e.to_string())?;
    let cfg = EvalConfig { fit, split };
    evaluate_shared(ds, &cfg, cell.seed, &mut Silent, shared).map_err(|e| e.to_string())
}

/// Shared state of the workers.
struct Progress {
    next: AtomicUsize,
    running: AtomicUsize,
    failed: AtomicUsize,
    finished: AtomicUsize,
    stop: AtomicBool,
    total: usize,
    skipped: usize,
}

impl Progress {
    fn counts(&self) -> Counts {
        Counts {
            total: self.total,
            skipped: self.skipped,
            finished: self.finished.load(Ordering::SeqCst),
            running: self.running.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
        }
    }
}

/// Runs `queue` on `opts.threads` workers, each taking the next cell until none is left, a
/// results line cannot be written, or the observer asks to stop; each finished cell's line
/// is appended as it finishes.
fn run_cells(
    queue: &[(Cell, &Grid)],
    datasets: &HashMap<DatasetRef, Arc<Dataset>>,
    files: &results::RunFiles,
    skipped: usize,
    opts: &RunOptions,
    observer: &dyn BenchObserver,
    shared: Option<&dyn StageCache>,
) -> Result<Counts, BenchError> {
    let state = Progress {
        next: AtomicUsize::new(0),
        running: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        finished: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        total: queue.len(),
        skipped,
    };
    let first_error: Mutex<Option<ResultsError>> = Mutex::new(None);
    observer.planned(state.counts());
    let worker = || loop {
        if state.stop.load(Ordering::SeqCst) {
            break;
        }
        let i = state.next.fetch_add(1, Ordering::SeqCst);
        let Some((cell, grid)) = queue.get(i) else {
            break;
        };
        state.running.fetch_add(1, Ordering::SeqCst);
        observer.cell_started(cell, state.counts());
        let outcome = anoonly::nn::with_matmul_threads(opts.matmul_threads.max(1), || {
            run_cell(cell, grid, &datasets[&cell.dataset], shared)
        });
        let written = match &outcome {
            Ok(rec) => ResultRecord::new(cell, rec).and_then(|line| files.results.append(&line)),
            Err(e) => {
                state.failed.fetch_add(1, Ordering::SeqCst);
                files.failures.append(&Failure {
                    key: cell.key(),
                    error: e.clone(),
                })
            }
        };
        state.running.fetch_sub(1, Ordering::SeqCst);
        let n = state.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if let Err(e) = written {
            state.stop.store(true, Ordering::SeqCst);
            if let Ok(mut slot) = first_error.lock() {
                slot.get_or_insert(e);
            }
        }
        let shown = match &outcome {
            Ok(r) => CellOutcome::Done(r),
            Err(e) => CellOutcome::Failed(e),
        };
        // This cell's own number among the finished ones, whatever the other workers did.
        let counts = Counts {
            finished: n,
            ..state.counts()
        };
        if observer.cell_finished(cell, shown, counts).is_break() {
            state.stop.store(true, Ordering::SeqCst);
        }
    };
    let threads = opts.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| BenchError::Pool(e.to_string()))?;
    pool.scope(|s| {
        for _ in 0..threads {
            s.spawn(|_| worker());
        }
    });
    let counts = state.counts();
    observer.finished(counts);
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e.into());
    }
    if counts.finished < counts.total {
        return Err(BenchError::Interrupted {
            finished: counts.finished,
            total: counts.total,
        });
    }
    Ok(counts)
}

/// Rebuilds `report.md`, `report.csv` and the figures of a run directory from its
/// `results.jsonl` (and `failures.jsonl`). A directory without `results.jsonl` is an
/// error, not an empty report written over the one it holds (a committed snapshot that
/// ships its report without its results would lose it).
pub fn write_report(dir: &Path) -> Result<Vec<PathBuf>, BenchError> {
    let path = dir.join(results::RESULTS_FILE);
    if !path.is_file() {
        let missing = std::io::Error::new(std::io::ErrorKind::NotFound, "no results file here");
        return Err(results::ResultsError::Io(path, missing).into());
    }
    let res = results::read_results(dir)?;
    let fails = results::read_failures(dir, &res)?;
    write_report_from(dir, &res, &fails)
}

fn write_report_from(
    dir: &Path,
    res: &[ResultRecord],
    fails: &[Failure],
) -> Result<Vec<PathBuf>, BenchError> {
    let sections = sections::sections(res);
    let analysis = evidence::Analysis::of(&sections);
    let mut outputs = Vec::new();
    let mut md = report::markdown_of(&sections, &analysis, res.len(), fails);
    write_figures(dir, &sections, &analysis, &mut md, &mut outputs)?;
    for (name, text) in [
        ("report.md", md),
        ("report.csv", report::csv_of(&sections)),
        (
            "evidence.csv",
            report::evidence_csv_of(&sections, &analysis),
        ),
        ("ranks.csv", report::ranks_csv_of(&sections, &analysis)),
    ] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes()).map_err(|e| BenchError::Io(path.clone(), e))?;
        outputs.push(path);
    }
    Ok(outputs)
}

/// Draws every figure the sections support into `dir` and lists them at the end of the
/// report's markdown.
#[cfg(feature = "plots")]
fn write_figures(
    dir: &Path,
    sections: &[sections::Section],
    analysis: &evidence::Analysis,
    md: &mut String,
    outputs: &mut Vec<PathBuf>,
) -> Result<(), BenchError> {
    let planned = plots::plan(sections, analysis);
    let mut captions: Vec<(String, String)> = Vec::new();
    for p in &planned {
        outputs.extend(p.figure.write(dir, &p.name)?);
        captions.push((p.name.clone(), p.caption.clone()));
    }
    // Fig. 10 from the embeddings the run stored, when it stored them.
    if let Some(fig) = fig10::read(dir)? {
        outputs.extend(fig10::write(&fig, dir)?);
        captions.push((fig10::NAME.to_string(), fig10::caption(&fig)));
    }
    if !captions.is_empty() {
        md.push_str("## Figures\n\n");
        for (name, caption) in &captions {
            md.push_str(&format!(
                "- `{name}.png` / `{name}.svg`: {caption}\n\n  ![{name}]({name}.png)\n"
            ));
        }
    }
    Ok(())
}

/// Without the `plots` feature a report has no figures.
#[cfg(not(feature = "plots"))]
fn write_figures(
    _: &Path,
    _: &[sections::Section],
    _: &evidence::Analysis,
    _: &mut String,
    _: &mut Vec<PathBuf>,
) -> Result<(), BenchError> {
    Ok(())
}

/// `bench merge`: joins the results of several run directories (shards) into `out`,
/// one line per key (the first directory holding a key wins; lines are kept whole), and
/// builds its report. The shards' failed cells that no directory finished go to
/// `out/failures.jsonl` and the report's list of failed cells, as in a one-process run: a
/// merged report must not look complete when cells of a shard failed.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<MergeSummary, BenchError> {
    std::fs::create_dir_all(out).map_err(|e| BenchError::Io(out.to_path_buf(), e))?;
    // Key -> the directory and index of its first line.
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    let mut text = String::new();
    let mut all = Vec::new();
    let mut failed: BTreeMap<String, Failure> = BTreeMap::new();
    for d in dirs {
        let lines = results::read_raw_results(d)?;
        let own: Vec<ResultRecord> = lines.iter().map(|(_, r)| r.clone()).collect();
        for (line, r) in lines {
            match seen.get(&r.key) {
                None => {
                    seen.insert(r.key.clone(), (d.clone(), all.len()));
                    text.push_str(&line);
                    text.push('\n');
                    all.push(r);
                }
                Some((first, i)) => results::check_same_cell(first, &all[*i], d, &r)?,
            }
        }
        for f in results::read_failures(d, &own)? {
            failed.entry(f.key.clone()).or_insert(f);
        }
    }
    let fails: Vec<Failure> = failed
        .into_values()
        .filter(|f| !seen.contains_key(&f.key))
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
    // Fig. 10's embeddings: the first shard's that computed them (refits of one pair of
    // cells, the same in any shard that holds both).
    #[cfg(feature = "plots")]
    if let Some(from) = dirs
        .iter()
        .map(|d| d.join(fig10::FILE))
        .find(|p| p.is_file())
    {
        let to = out.join(fig10::FILE);
        if from != to {
            let bytes = std::fs::read(&from).map_err(|e| BenchError::Io(from.clone(), e))?;
            write_atomic(&to, &bytes).map_err(|e| BenchError::Io(to.clone(), e))?;
        }
    }
    let outputs = write_report_from(out, &all, &fails)?;
    Ok(MergeSummary {
        cells: all.len(),
        failed: fails.len(),
        outputs,
    })
}

/// What [`merge`] joined.
#[derive(Clone, Debug)]
pub struct MergeSummary {
    /// Distinct finished cells.
    pub cells: usize,
    /// Cells that failed in a shard and that no directory finished (`failures.jsonl`).
    pub failed: usize,
    /// The report and figure files written.
    pub outputs: Vec<PathBuf>,
}
