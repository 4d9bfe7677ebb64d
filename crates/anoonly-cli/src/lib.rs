//! `anoonly`: the command-line front end, as a library so that the `anoonly` binary and the
//! Python package's console script run the same code ([`run`]). Parsing and printing only:
//! every decision is the core library's ([`anoonly::methods::FitOptions`],
//! [`anoonly::experiment`], [`anoonly_bench`]).

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use anoonly::data::{self, LoadOptions};
use anoonly::experiment::{self, record_line, summary_line, EvalConfig, EvalRecord, SeedObserver};
use anoonly::methods::{parse_value, FitOptions, MethodKind};
use anoonly::metrics::evaluate;
use anoonly::model_file;
use anoonly::output::{check_output_path, write_atomic};
use anoonly::protocol::{Protocol, Setting, SplitParams};
use anoonly::train::{EpochReport, NormKind};
use anoonly_bench::{
    self, BenchObserver, Cell, CellOutcome, Counts, GridAxes, GridSource, RunOptions, Shard, Suite,
    Variant,
};

#[derive(Parser)]
#[command(
    name = "anoonly",
    version,
    about = "Semi-supervised anomaly detection with and without AnoOnly (loss on anomalies only)"
)]
struct Cli {
    /// Worker threads for matrix products (default: all cores). Scores are bit-identical
    /// for a fixed seed, data and thread count.
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Split a labeled file as the paper's protocol does, fit, score the test split and
    /// report AUCROC / AUCPR, one line per seed, then mean and sd.
    Eval(EvalArgs),
    /// Train on a whole labeled file (1 = known anomaly, 0 = unlabeled) and write a model.
    Fit(FitArgs),
    /// Score rows with a saved model (higher = more anomalous).
    Score(ScoreArgs),
    /// Built-in synthetic data: DeepSAD against DeepSAD+AnoOnly, in seconds, no file needed.
    Demo(DemoArgs),
    /// Run a grid of evaluations (files x methods x variants x settings x gamma_la x seeds)
    /// in parallel, into a directory: results.jsonl, report.md/.csv beside the paper's
    /// tables, figures (SVG, PNG). `bench merge` joins shards, `bench report` rebuilds.
    Bench(BenchArgs),
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
struct BenchArgs {
    #[command(subcommand)]
    action: Option<BenchAction>,
    #[command(flatten)]
    run: BenchRunArgs,
}

#[derive(Subcommand)]
enum BenchAction {
    /// Join the results of several run directories (e.g. shards) and build their report.
    Merge {
        /// Run directories to join.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Directory for the joined results and report.
        #[arg(long)]
        out: PathBuf,
    },
    /// Rebuild report.md, report.csv and the figures of a run directory.
    Report { dir: PathBuf },
}

#[derive(Args)]
struct BenchRunArgs {
    /// Output directory (results.jsonl, report.md, report.csv, figures).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Named grid: `paper` (Table 1: every method and variant, clean, gamma_la 0.1, seeds
    /// 0,1,2, on the ADBench family files under --data-dir), `sweep` (+ gamma_la 1..100%),
    /// `noise` (+ label-noise setting), `full` (sweep + noise: Figs. 4, 5, 8 in one run),
    /// `quick` (built-in synthetic data, seconds),
    /// `ablation` (DeepSAD: Table 2 norms, lambda_n, normal-ratio and batch-size sweeps),
    /// `tabular` (every Classical/*.npz, all methods, gamma_la 5,10,25%), `leakage` (the
    /// paper grid under both protocols), `budget` (FEAWAD at 100, 25, 10, 2% of the
    /// authors' epochs).
    #[arg(long)]
    suite: Option<String>,
    /// The grid as a TOML file (fields: files, synthetic, methods, variants, settings,
    /// gamma_la, seeds, ablations, protocol, epochs, set). Flags below override it.
    #[arg(long)]
    grid: Option<PathBuf>,
    /// ADBench root holding CV_by_ResNet18/, NLP_by_RoBERTa/ and Classical/.
    #[arg(long, default_value = "../shared/data/adbench")]
    data_dir: PathBuf,
    /// Data files instead of a suite's family files.
    #[arg(long, value_delimiter = ',')]
    files: Vec<PathBuf>,
    #[arg(long, value_delimiter = ',')]
    methods: Vec<MethodKind>,
    /// `base`, `anoonly` or both.
    #[arg(long, value_delimiter = ',')]
    variants: Vec<Variant>,
    #[arg(long, value_enum, value_delimiter = ',')]
    settings: Vec<SettingArg>,
    #[arg(long, value_delimiter = ',')]
    gamma_la: Vec<f64>,
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// Epochs for every method that trains in epochs (default: the authors' settings;
    /// XGBOD keeps its boosting rounds: `--set xgbod:n_estimators=N`).
    #[arg(long)]
    epochs: Option<usize>,
    /// A method hyperparameter for every cell of that method, `METHOD:NAME=VALUE`
    /// (e.g. `feawad:compat=official`); repeatable.
    #[arg(long = "set", value_name = "METHOD:NAME=VALUE")]
    set: Vec<String>,
    /// Continue a run in --out: cells already in results.jsonl are not recomputed.
    #[arg(long)]
    resume: bool,
    /// Run only the I-th of N disjoint slices of the grid (array jobs); join with `bench merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Keep shared work (the label-free stages methods declare, e.g. an autoencoder
    /// pretraining) in DIR, content-addressed, so that shards, resumes and later runs
    /// compute it once; results are identical without.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Compute the shared stages (e.g. an autoencoder pretraining) in every cell instead of
    /// once per run (same results, slower; for measuring what sharing saves).
    #[arg(long, conflicts_with = "cache")]
    no_share: bool,
    /// Print the grid's cells (of --shard, if given) and their count, and run nothing:
    /// checks the arguments without reading data or writing to --out.
    #[arg(long, alias = "dry-run")]
    list: bool,
    /// Exit 0 even when cells failed (they are in failures.jsonl and the report): for job
    /// scripts whose merge step reports them (scripts/slurm/job.sh).
    #[arg(long)]
    allow_failed_cells: bool,
    /// No progress display.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Data file: ADBench .npz (X, y), .npy features (labels from --labels or a sibling
    /// y.npy / NAME_y.npy), or .csv with a header.
    #[arg(long)]
    data: PathBuf,
    /// CSV label column (default: `y`).
    #[arg(long)]
    label_column: Option<String>,
    /// Labels file for .npy features.
    #[arg(long)]
    labels: Option<PathBuf>,
}

impl SettingArg {
    fn setting(self) -> Setting {
        match self {
            SettingArg::Clean => Setting::Clean,
            SettingArg::Noisy => Setting::Noisy,
        }
    }
}

impl ProtocolArg {
    fn protocol(self) -> Protocol {
        match self {
            ProtocolArg::Adbench => Protocol::Adbench,
            ProtocolArg::LeakageFree => Protocol::LeakageFree,
        }
    }
}

impl DataArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            label_column: self.label_column.clone(),
            labels: self.labels.clone(),
        }
    }
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// Method.
    #[arg(long, default_value = "deepsad")]
    method: MethodKind,
    /// AnoOnly: no loss on normal rows (lambda_n = 0), BatchNorm before the last layer.
    #[arg(long)]
    anoonly: bool,
    /// Weight of the normal-data loss L_N (default 1, or 0 with --anoonly).
    #[arg(long)]
    lambda_n: Option<f32>,
    /// Override the number of epochs (default: the authors' setting; refused for XGBOD,
    /// whose boosting rounds are `--set n_estimators=N`).
    #[arg(long)]
    epochs: Option<usize>,
    /// Skip the optimiser step on batches without loss (default: step, as the authors' code).
    #[arg(long)]
    skip_empty_batches: bool,
    /// Loss variant where a method has one (DevNet: `official` = the authors' code,
    /// `paper` = the paper's hinge losses).
    #[arg(long)]
    loss: Option<String>,
    /// Compatibility mode where a method has one (FEAWAD: `official` replicates the
    /// authors' bugs, `fixed` is the default).
    #[arg(long)]
    compat: Option<String>,
    /// Any method hyperparameter, `NAME=VALUE` (e.g. `lr=0.001`, `hidden=[64,16]`); repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Normalisation layer(s) before the last layer (default: the method's own; with
    /// --anoonly a BatchNorm where the method has none): none, layernorm, bn-noaffine, bn,
    /// bn-loss (the paper's BN-dagger: no BatchNorm, its explicit loss L_BN instead).
    #[arg(long)]
    norm: Option<NormKind>,
    /// Weight of L_BN with --norm bn-loss.
    #[arg(long, default_value_t = 1.0)]
    bn_loss_weight: f32,
    /// Training batch size (the method's `batch_size`; an error for a method without one).
    #[arg(long)]
    batch_size: Option<usize>,
}

impl ModelArgs {
    /// The flags as the library's [`FitOptions`]: `--loss` and `--compat` are method
    /// parameters like `--set`'s, applied in that order.
    fn fit_options(&self, seed: u64) -> Result<FitOptions> {
        let mut o = FitOptions::new(self.method);
        o.anoonly = self.anoonly;
        o.lambda_n = self.lambda_n;
        o.norm = self.norm;
        o.bn_loss_weight = self.bn_loss_weight;
        o.epochs = self.epochs;
        o.batch_size = self.batch_size;
        o.skip_empty_batches = self.skip_empty_batches;
        o.seed = seed;
        for (name, value) in [("loss", &self.loss), ("compat", &self.compat)] {
            if let Some(v) = value {
                o.params.push((name.to_string(), parse_value(v)));
            }
        }
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv}: expected NAME=VALUE"))?;
            o.params.push((k.trim().to_string(), parse_value(v.trim())));
        }
        Ok(o)
    }
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "kebab-case")]
enum SettingArg {
    /// Unlabeled train anomalies dropped (the paper's main tables).
    Clean,
    /// Unlabeled train anomalies kept as unlabeled (the authors' run.py default, label noise).
    Noisy,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProtocolArg {
    /// As the authors' code: files under 1,000 rows resampled to 1,000 before the split.
    Adbench,
    /// No resampling before the split: no row sits in both train and test.
    LeakageFree,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, value_enum, default_value = "clean")]
    setting: SettingArg,
    #[arg(long, value_enum, default_value = "adbench")]
    protocol: ProtocolArg,
    /// Fraction of train anomalies that are labeled (at least one).
    #[arg(long, default_value_t = 0.1)]
    gamma_la: f64,
    /// Fraction of the train normals kept (the first ones of the shuffled train split), in
    /// (0, 1].
    #[arg(long, default_value_t = 1.0)]
    normal_ratio: f64,
    /// Rows drawn from larger files before the split (as ADBench), or `none` for all rows.
    #[arg(long, default_value = "10000", value_parser = parse_max_rows)]
    max_rows: MaxRows,
    /// Seeds (data split and model), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// One JSON object per line on stdout; the summary goes to stderr.
    #[arg(long)]
    json: bool,
}

/// `--max-rows`: a row count, or `none` for no cap.
#[derive(Clone, Copy)]
struct MaxRows(Option<usize>);

fn parse_max_rows(s: &str) -> Result<MaxRows, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(MaxRows(None));
    }
    s.parse()
        .map(|n| MaxRows(Some(n)))
        .map_err(|_| format!("expected a row count or `none`, got {s:?}"))
}

#[derive(Args)]
struct FitArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Model file to write (safetensors with a JSON config).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ScoreArgs {
    /// Model file written by `anoonly fit`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// CSV output (default: stdout).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Add a 0/1 `prediction` column: the rows above the (1 - contamination) quantile of
    /// the training scores.
    #[arg(long)]
    contamination: Option<f64>,
}

#[derive(Args)]
struct DemoArgs {
    #[arg(long, value_delimiter = ',', default_value = "0,1,2")]
    seeds: Vec<u64>,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 0)]
    data_seed: u64,
}

/// Runs the `anoonly` command on `args` (the program name first, as `std::env::args_os`
/// gives them) and returns its exit status: 0 on success, 1 when the work failed, 2 on a
/// usage error. Every failure is one `error: ...` line on stderr. It never exits the
/// process and sets nothing process-wide, so it can run inside another program.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    ExitCode::from(run_status(args))
}

/// [`run`]'s exit status as a number (0, 1 or 2), for a caller that hands it on itself
/// (the Python package's console script gives it to `sys.exit`). Standard output is
/// flushed before it returns.
pub fn run_status<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let status = run_parsed(args);
    let _ = std::io::stdout().flush();
    status
}

fn run_parsed<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: clap's own output on stdout.
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            eprintln!("{}", clap_one_line(&e));
            return 2;
        }
    };
    if cli.threads == Some(0) {
        eprintln!("error: --threads must be at least 1");
        return 2;
    }
    // The products of eval/fit/score/demo use --threads (default: all cores), set for this
    // thread only; `bench` gives each worker its own setting (RunOptions::matmul_threads).
    let matmul_threads = cli.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let result = anoonly::nn::with_matmul_threads(matmul_threads, || match cli.command {
        Command::Eval(a) => eval(a),
        Command::Fit(a) => fit(a),
        Command::Score(a) => score(a),
        Command::Demo(a) => demo(a),
        Command::Bench(a) => bench(a, cli.threads),
    });
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            1
        }
    }
}

/// The error and its causes on one line, skipping a cause whose text its parent already
/// quotes (our error types name their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// A usage error on one line (clap spreads it over several, with a usage block), so every
/// failure of the tool is one `error: ...` line that scripts can grep.
fn clap_one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .collect();
    parts.join(" ")
}

/// Epoch progress on stderr when it is a terminal: `LABEL: epoch 3/50 loss 0.1234`.
struct EpochLine {
    tty: bool,
    label: String,
}

impl EpochLine {
    fn new(label: String) -> Self {
        EpochLine {
            tty: std::io::stderr().is_terminal(),
            label,
        }
    }

    fn show(&self, r: &EpochReport) {
        if !self.tty {
            return;
        }
        eprint!("\r{}: {r}   ", self.label);
        if r.epoch + 1 == r.epochs {
            eprint!("\r{:width$}\r", "", width = self.label.len() + 50);
        }
        let _ = std::io::stderr().flush();
    }
}

/// `eval`'s printing: a line (or a JSON object) per finished seed, epoch progress between.
struct EvalPrinter {
    json: bool,
    line: EpochLine,
}

impl SeedObserver for EvalPrinter {
    fn seed_started(&mut self, dataset: &str, seed: u64) {
        self.line.label = format!("{dataset} seed {seed}");
    }

    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        self.line.show(report);
        ControlFlow::Continue(())
    }

    fn record(&mut self, r: &EvalRecord) {
        if self.json {
            println!("{}", serde_json::to_string(r).unwrap_or_default());
        } else {
            println!("{}", record_line(r));
        }
        for note in &r.notes {
            eprintln!("note: {} seed {}: {note}", r.dataset, r.seed);
        }
    }
}

fn eval(a: EvalArgs) -> Result<()> {
    let cfg = EvalConfig {
        fit: a.model.fit_options(0)?.build()?,
        split: SplitParams {
            protocol: a.protocol.protocol(),
            setting: a.setting.setting(),
            gamma_la: a.gamma_la,
            normal_ratio: a.normal_ratio,
            max_rows: a.max_rows.0,
            ..SplitParams::default()
        },
    };
    cfg.validate()?;
    experiment::check_seeds(&a.seeds)?;
    let ds = data::load(&a.data.data, &a.data.options())?;
    let mut printer = EvalPrinter {
        json: a.json,
        line: EpochLine::new(String::new()),
    };
    let records = experiment::evaluate_seeds(ds, &cfg, &a.seeds, &mut printer)?;
    let line = summary_line(&records);
    if a.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(())
}

fn fit(a: FitArgs) -> Result<()> {
    let params = a.model.fit_options(a.seed)?.build()?;
    check_output_path(&a.out).map_err(anyhow::Error::msg)?;
    // All-0 labels are the fit's to judge (DeepSAD trains on them as Deep SVDD).
    let ds = data::load_labeled(&a.data.data, &a.data.options())?;
    let line = EpochLine::new(format!("fit {}", ds.name));
    let mut obs = |r: &EpochReport| {
        line.show(r);
        ControlFlow::Continue(())
    };
    let model = params
        .fit_observed(ds.x.view(), ds.y.view(), &mut obs)
        .with_context(|| format!("{}: fit", a.data.data.display()))?;
    for note in &model.report.notes {
        eprintln!("note: {note}");
    }
    let (n_rows, n_anomalies, n_features) = (ds.n_rows(), ds.n_anomalies(), ds.n_features());
    // The data is not needed to write the model: freeing it first keeps the peak at
    // training instead of data + the serialized file (issue 7, docs/scale.md).
    drop(ds);
    model_file::save(&model, &a.out)?;
    eprintln!(
        "wrote {} ({}{}, {n_rows} rows, {n_anomalies} labeled anomalies, {n_features} features)",
        a.out.display(),
        model.kind(),
        if params.train.anoonly { "+AnoOnly" } else { "" },
    );
    Ok(())
}

fn score(a: ScoreArgs) -> Result<()> {
    if let Some(out) = &a.out {
        check_output_path(out).map_err(anyhow::Error::msg)?;
    }
    let model = model_file::load(&a.model)?;
    let feats = data::load_features(&a.data.data, &a.data.options())?;
    let scores = model
        .decision_function(feats.x.view())
        .with_context(|| format!("{}", a.data.data.display()))?;
    let threshold = a.contamination.map(|c| model.threshold(c)).transpose()?;
    let mut out = String::from("row,score");
    if threshold.is_some() {
        out.push_str(",prediction");
    }
    out.push('\n');
    for (i, s) in scores.iter().enumerate() {
        out.push_str(&format!("{i},{s}"));
        if let Some(t) = threshold {
            out.push_str(if *s > t { ",1" } else { ",0" });
        }
        out.push('\n');
    }
    match &a.out {
        Some(p) => {
            write_atomic(p, out.as_bytes()).with_context(|| format!("writing {}", p.display()))?
        }
        None => std::io::stdout().write_all(out.as_bytes())?,
    }
    if let Some(y) = &feats.y {
        if let Ok(m) = evaluate(&y.to_vec(), &scores.to_vec()) {
            eprintln!(
                "{}: labels present: AUCROC {:.1}  AUCPR {:.1}",
                feats.name,
                100.0 * m.aucroc,
                100.0 * m.aucpr
            );
        }
    }
    Ok(())
}

fn demo(a: DemoArgs) -> Result<()> {
    print!("{}", experiment::demo(&a.seeds, a.data_seed)?);
    Ok(())
}

fn bench(a: BenchArgs, threads: Option<usize>) -> Result<()> {
    match a.action {
        Some(BenchAction::Merge { dirs, out }) => {
            let m = anoonly_bench::merge(&dirs, &out)?;
            eprintln!(
                "merged {} cells ({} failed) from {} director(ies) into {}",
                m.cells,
                m.failed,
                dirs.len(),
                out.display()
            );
            list_outputs(&m.outputs);
            Ok(())
        }
        Some(BenchAction::Report { dir }) => {
            list_outputs(&anoonly_bench::write_report(&dir)?);
            Ok(())
        }
        None => bench_run(a.run, threads),
    }
}

fn list_outputs(outputs: &[PathBuf]) {
    for p in outputs {
        eprintln!("wrote {}", p.display());
    }
}

fn bench_run(a: BenchRunArgs, threads: Option<usize>) -> Result<()> {
    let source = match (&a.grid, &a.suite) {
        (Some(path), _) => GridSource::File(path.clone()),
        (None, Some(s)) => GridSource::Suite(s.parse::<Suite>().map_err(anyhow::Error::msg)?),
        (None, None) => GridSource::Default,
    };
    let grids = anoonly_bench::build_grids(&source, &a.data_dir, &a.axes()?)?;
    let shard = a.shard.as_deref().map(str::parse::<Shard>).transpose()?;
    if a.list {
        return bench_list(&grids, shard);
    }
    let out = a
        .out
        .clone()
        .context("bench needs --out DIR (where results.jsonl and the report go)")?;
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let display = if a.quiet {
        BenchDisplay::Quiet
    } else if std::io::stderr().is_terminal() {
        BenchDisplay::Bar(OnceLock::new())
    } else {
        BenchDisplay::Lines
    };
    let opts = RunOptions {
        out: out.clone(),
        resume: a.resume,
        threads,
        // One core per worker: `threads` cells at a time, each on one core.
        matmul_threads: 1,
        shard,
        share: !a.no_share,
        cache: a.cache.clone(),
    };
    let summary = anoonly_bench::run_grids(&grids, &opts, &display)?;
    eprintln!(
        "{} cells ({} already done, {} run, {} failed) in {:.1}s on {} thread(s)",
        summary.cells, summary.skipped, summary.ran, summary.failed, summary.wall_seconds, threads
    );
    for s in &summary.stages {
        let p = s.stats;
        if p.computed + p.reused() > 0 {
            eprintln!(
                "{}'s {}: {} computed, {} shared ({} from memory, {} from {}), {} waited for another worker",
                s.method,
                s.stage.description,
                p.computed,
                p.reused(),
                p.memory_hits,
                p.disk_hits,
                a.cache
                    .as_ref()
                    .map_or("the cache".to_string(), |d| d.display().to_string()),
                p.waited
            );
        }
    }
    let p = summary.stage_totals();
    if p.rejected + p.write_errors > 0 {
        eprintln!(
            "warning: cache: {} damaged file(s) recomputed and replaced, {} file(s) could not be written",
            p.rejected, p.write_errors
        );
    }
    list_outputs(&summary.outputs);
    if summary.failed > 0 && !a.allow_failed_cells {
        anyhow::bail!(
            "{} cell(s) failed: their errors are in {} and {}",
            summary.failed,
            out.join("failures.jsonl").display(),
            out.join("report.md").display()
        );
    }
    Ok(())
}

/// `bench --list`: the cells a run would hold, one key per line on stdout, and their count.
fn bench_list(grids: &[anoonly_bench::Grid], shard: Option<Shard>) -> Result<()> {
    let cells = anoonly_bench::cells(grids, shard)?;
    let mut text = String::new();
    for c in &cells {
        text.push_str(&c.key());
        text.push('\n');
    }
    std::io::stdout().write_all(text.as_bytes())?;
    match shard {
        Some(s) => eprintln!(
            "{} cells in shard {}/{} (nothing run)",
            cells.len(),
            s.index,
            s.count
        ),
        None => eprintln!("{} cells (nothing run)", cells.len()),
    }
    Ok(())
}

impl BenchRunArgs {
    /// The grid-axis flags, as the library's [`GridAxes`].
    fn axes(&self) -> Result<GridAxes> {
        let set = self
            .set
            .iter()
            .map(|s| {
                let (m, kv) = s
                    .split_once(':')
                    .with_context(|| format!("--set {s}: expected METHOD:NAME=VALUE"))?;
                let m: MethodKind = m.parse().map_err(anyhow::Error::msg)?;
                let (name, value) = kv
                    .split_once('=')
                    .with_context(|| format!("--set {s}: expected METHOD:NAME=VALUE"))?;
                Ok((m, name.trim().to_string(), parse_value(value.trim())))
            })
            .collect::<Result<_>>()?;
        Ok(GridAxes {
            files: self.files.clone(),
            methods: self.methods.clone(),
            variants: self.variants.clone(),
            settings: self.settings.iter().map(|s| s.setting()).collect(),
            gamma_la: self.gamma_la.clone(),
            seeds: self.seeds.clone(),
            protocol: self.protocol.map(ProtocolArg::protocol),
            epochs: self.epochs,
            set,
        })
    }
}

/// How `bench` shows its progress.
enum BenchDisplay {
    /// An indicatif bar (cells done, running, failed, ETA) on a terminal, made when the
    /// cells are planned.
    Bar(OnceLock<ProgressBar>),
    /// One line per finished cell on stderr (logs, batch schedulers).
    Lines,
    Quiet,
}

impl BenchDisplay {
    fn status(&self, c: Counts) {
        if let BenchDisplay::Bar(b) = self {
            if let Some(b) = b.get() {
                b.set_message(format!("{} running, {} failed", c.running, c.failed));
            }
        }
    }
}

impl BenchObserver for BenchDisplay {
    fn planned(&self, c: Counts) {
        if let BenchDisplay::Bar(cell) = self {
            let b =
                ProgressBar::with_draw_target(Some(c.total as u64), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} cells · {msg} · ETA {eta}",
            ) {
                b.set_style(style.progress_chars("=> "));
            }
            b.enable_steady_tick(Duration::from_millis(500));
            let _ = cell.set(b);
        }
    }

    fn cell_started(&self, _: &Cell, c: Counts) {
        self.status(c);
    }

    fn cell_finished(&self, cell: &Cell, outcome: CellOutcome<'_>, c: Counts) -> ControlFlow<()> {
        match self {
            BenchDisplay::Bar(b) => {
                if let Some(b) = b.get() {
                    b.inc(1);
                }
                self.status(c);
            }
            BenchDisplay::Lines => {
                let what = match outcome {
                    CellOutcome::Done(r) => format!(
                        "AUCROC {:.1} AUCPR {:.1} fit {:.2}s",
                        100.0 * r.aucroc,
                        100.0 * r.aucpr,
                        r.fit_seconds
                    ),
                    CellOutcome::Failed(e) => format!("FAILED: {e}"),
                };
                eprintln!("[{}/{}] {}: {what}", c.finished, c.total, cell.key());
            }
            BenchDisplay::Quiet => {}
        }
        ControlFlow::Continue(())
    }

    fn finished(&self, _: Counts) {
        if let BenchDisplay::Bar(b) = self {
            if let Some(b) = b.get() {
                b.finish_and_clear();
            }
        }
    }
}
