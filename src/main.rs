//! `anoonly`: the command-line front end. Parsing and printing only; the library does the
//! work.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use anoonly::data::{self, LoadOptions};
use anoonly::experiment::{self, pct, record_line, summarize, EvalConfig, EvalRecord};
use anoonly::methods::{FitParams, MethodKind};
use anoonly::metrics::evaluate;
use anoonly::model_file;
use anoonly::output::write_atomic;
use anoonly::protocol::{Protocol, Setting, SplitParams};
use anoonly::train::{EmptyBatch, EpochReport};

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
    /// Override the number of epochs (default: the authors' setting).
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
}

impl ModelArgs {
    fn fit_params(&self, seed: u64) -> Result<FitParams> {
        let mut p = FitParams::new(self.method).anoonly(self.anoonly).seed(seed);
        if let Some(l) = &self.loss {
            p.method.set("loss", l)?;
        }
        if let Some(c) = &self.compat {
            p.method.set("compat", c)?;
        }
        for kv in &self.set {
            let (k, v) = kv
                .split_once('=')
                .with_context(|| format!("--set {kv}: expected NAME=VALUE"))?;
            p.method.set(k.trim(), v.trim())?;
        }
        p.train.lambda_n = self.lambda_n;
        if self.skip_empty_batches {
            p.train.empty_batch = EmptyBatch::Skip;
        }
        if let Some(e) = self.epochs {
            p.method.set_epochs(e);
        }
        p.validate()?;
        Ok(p)
    }
}

#[derive(Clone, Copy, ValueEnum)]
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help, --version: clap's own output on stdout.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{}", clap_one_line(&e));
            return ExitCode::from(2);
        }
    };
    if let Some(t) = cli.threads {
        if t == 0 {
            eprintln!("error: --threads must be at least 1");
            return ExitCode::from(2);
        }
        // matrixmultiply reads this once, at the first product.
        std::env::set_var("MATMUL_NUM_THREADS", t.to_string());
    }
    let result = match cli.command {
        Command::Eval(a) => eval(a),
        Command::Fit(a) => fit(a),
        Command::Score(a) => score(a),
        Command::Demo(a) => demo(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
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

/// Refuses layer widths that could not be allocated (see [`model_file::check_widths`]).
fn check_network(params: &FitParams, n_features: usize) -> Result<()> {
    model_file::check_widths(&params.method, n_features, model_file::MAX_LAYER_WEIGHTS)
        .map_err(|e| anyhow::anyhow!("{}: {e}", params.method.kind()))
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

/// Epoch progress on stderr when it is a terminal.
fn progress(label: String) -> impl FnMut(&EpochReport) {
    let tty = std::io::stderr().is_terminal();
    move |r: &EpochReport| {
        if !tty {
            return;
        }
        let loss = r.loss.map_or("-".to_string(), |l| format!("{l:.4}"));
        eprint!(
            "\r{label}: epoch {}/{} loss {loss}   ",
            r.epoch + 1,
            r.epochs
        );
        if r.epoch + 1 == r.epochs {
            eprint!("\r{:width$}\r", "", width = label.len() + 40);
        }
        let _ = std::io::stderr().flush();
    }
}

fn eval(a: EvalArgs) -> Result<()> {
    if a.seeds.is_empty() {
        bail!("--seeds needs at least one seed");
    }
    let fit = a.model.fit_params(0)?;
    let split = SplitParams {
        protocol: match a.protocol {
            ProtocolArg::Adbench => Protocol::Adbench,
            ProtocolArg::LeakageFree => Protocol::LeakageFree,
        },
        setting: match a.setting {
            SettingArg::Clean => Setting::Clean,
            SettingArg::Noisy => Setting::Noisy,
        },
        gamma_la: a.gamma_la,
        max_rows: a.max_rows.0,
        ..SplitParams::default()
    };
    split.validate()?;
    let cfg = EvalConfig { fit, split };
    let ds = data::load(&a.data.data, &a.data.options())?;
    check_network(&cfg.fit, ds.n_features())?;
    let mut records: Vec<EvalRecord> = Vec::new();
    for &seed in &a.seeds {
        let mut obs = progress(format!("{} seed {seed}", ds.name));
        let r = experiment::evaluate_once(&ds, &cfg, seed, &mut obs)?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!("{}", record_line(&r));
        }
        records.push(r);
    }
    let s = summarize(&records);
    let line = format!(
        "{} {}{} over {} seed(s): AUCROC {}  AUCPR {}  AUCPR-normal {}  fit {:.2}s",
        ds.name,
        cfg.fit.method.kind(),
        if cfg.fit.train.anoonly {
            "+AnoOnly"
        } else {
            ""
        },
        s.runs,
        pct(s.aucroc),
        pct(s.aucpr),
        pct(s.aucpr_normal),
        s.fit_seconds.mean
    );
    if a.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(())
}

fn fit(a: FitArgs) -> Result<()> {
    let params = a.model.fit_params(a.seed)?;
    let ds = data::load(&a.data.data, &a.data.options())?;
    check_network(&params, ds.n_features())?;
    let mut obs = progress(format!("fit {}", ds.name));
    let model = params
        .fit_observed(ds.x.view(), ds.y.view(), &mut obs)
        .with_context(|| format!("{}: fit", a.data.data.display()))?;
    model_file::save(&model, &a.out)?;
    eprintln!(
        "wrote {} ({}{}, {} rows, {} labeled anomalies, {} features)",
        a.out.display(),
        model.kind(),
        if params.train.anoonly { "+AnoOnly" } else { "" },
        ds.n_rows(),
        ds.n_anomalies(),
        ds.n_features()
    );
    Ok(())
}

fn score(a: ScoreArgs) -> Result<()> {
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
    let ds = data::synthetic::demo_dataset(a.data_seed);
    println!(
        "synthetic data: {} rows x {} features, {} anomalies (local, global, clustered, dependency)",
        ds.n_rows(),
        ds.n_features(),
        ds.n_anomalies()
    );
    println!(
        "protocol: stratified 70/30 split, clean setting, gamma_la = 0.1, seeds {:?}\n",
        a.seeds
    );
    println!("| method | AUCROC % | AUCPR % | AUCPR normal % | fit s |");
    println!("|---|---|---|---|---|");
    for anoonly in [false, true] {
        let cfg = EvalConfig {
            fit: FitParams::new(MethodKind::DeepSad).anoonly(anoonly),
            split: SplitParams::default(),
        };
        let mut records = Vec::new();
        for &seed in &a.seeds {
            records.push(experiment::evaluate_once(&ds, &cfg, seed, &mut |_| {})?);
        }
        let s = summarize(&records);
        println!(
            "| DeepSAD{} | {} | {} | {} | {:.2} |",
            if anoonly { " + AnoOnly" } else { "" },
            pct(s.aucroc),
            pct(s.aucpr),
            pct(s.aucpr_normal),
            s.fit_seconds.mean
        );
    }
    Ok(())
}
