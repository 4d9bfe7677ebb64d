//! `anoonly bench`: a grid run (its flags as the bench crate's [`GridAxes`] and
//! [`RunOptions`]), `bench merge`, `bench report` and `bench --list`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use anoonly::methods::{parse_assignment, MethodKind};
use anoonly_bench::{self, GridAxes, GridSource, RunOptions, Shard, Suite, Variant};

use crate::args::{ProtocolArg, SettingArg};
use crate::progress::BenchDisplay;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct BenchArgs {
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
    /// A named grid, shipped as a TOML grid file (the bench crate's suites/NAME.toml; its
    /// files found under --data-dir). Default: `paper`.
    #[arg(long, value_parser = suite_parser())]
    suite: Option<Suite>,
    /// The grid as a TOML file (fields: files, files_from, synthetic, methods, variants,
    /// settings, gamma_la, n_labeled, seeds, ablations, protocol, epochs, set; [[grids]] for
    /// several).
    /// Flags below override it.
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
    /// Labeled-anomaly ratios. With --n-labeled, the grid's labeled axis is both lists;
    /// either alone replaces the grid's axis.
    #[arg(long, value_delimiter = ',')]
    gamma_la: Vec<f64>,
    /// Labeled-anomaly counts (ADBench's count mode, `nla`: e.g. 5,10,25,50); cells keyed
    /// `n_labeled=N` in place of `gamma_la=R`.
    #[arg(long, value_delimiter = ',', value_name = "N")]
    n_labeled: Vec<usize>,
    #[arg(long, value_delimiter = ',')]
    seeds: Vec<u64>,
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// Epochs for every method that trains in epochs (default: the authors' settings;
    /// XGBOD keeps its boosting rounds: `--set xgbod:n_estimators=N`). A
    /// `--set METHOD:epochs=N` wins over it for that method.
    #[arg(long)]
    epochs: Option<usize>,
    /// A method hyperparameter for every cell of that method, `METHOD:NAME=VALUE`
    /// (e.g. `deepsad:lr=0.001`); repeatable. It names the field, so it wins over
    /// `--epochs` for `epochs`.
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

pub(crate) fn run(a: BenchArgs, threads: Option<usize>) -> Result<()> {
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
        (None, Some(s)) => GridSource::Suite(*s),
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
    let threads = threads.unwrap_or_else(anoonly::nn::available_threads);
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

/// `--suite`'s values: the suites shipped with the bench crate, each with its description
/// (`--help` lists them).
fn suite_parser() -> impl clap::builder::TypedValueParser<Value = Suite> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(
        Suite::ALL
            .iter()
            .map(|s| clap::builder::PossibleValue::new(s.name()).help(s.description())),
    )
    .try_map(|name| name.parse::<Suite>())
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
                let m: MethodKind = m
                    .trim()
                    .parse()
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("--set {s}"))?;
                let (name, value) = parse_assignment(kv).with_context(|| format!("--set {s}"))?;
                Ok((m, name, value))
            })
            .collect::<Result<_>>()?;
        Ok(GridAxes {
            files: self.files.clone(),
            methods: self.methods.clone(),
            variants: self.variants.clone(),
            settings: self.settings.iter().map(|s| s.setting()).collect(),
            gamma_la: self.gamma_la.clone(),
            n_labeled: self.n_labeled.clone(),
            seeds: self.seeds.clone(),
            protocol: self.protocol.map(ProtocolArg::protocol),
            epochs: self.epochs,
            set,
        })
    }
}
