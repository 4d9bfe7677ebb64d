//! The command line: the top-level parser ([`Cli`], its [`Command`]s) and the flags that
//! several subcommands share (the data file, the model options, the split's setting and
//! protocol), each turned into the library's types. A subcommand's own flags live with it.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use anoonly::data::LoadOptions;
use anoonly::methods::{parse_assignment, parse_value, FitOptions, MethodKind};
use anoonly::preprocessing::Preprocessing;
use anoonly::protocol::{Protocol, Setting};
use anoonly::train::{NormKind, DEFAULT_BN_LOSS_WEIGHT};

use crate::bench::BenchArgs;
use crate::demo::DemoArgs;
use crate::eval::EvalArgs;
use crate::fit::FitArgs;
use crate::score::ScoreArgs;

#[derive(Parser)]
#[command(
    name = "anoonly",
    version,
    about = "Semi-supervised anomaly detection with and without AnoOnly (loss on anomalies only)"
)]
pub(crate) struct Cli {
    /// Worker threads (default: all cores): a fit's matrix products and large passes
    /// (eval, fit, score, demo), cells run side by side (bench). Scores are bit-identical
    /// for a fixed seed and data at any thread count.
    #[arg(long, global = true)]
    pub(crate) threads: Option<usize>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Split a labeled file as the paper's protocol does, fit, score the test split and
    /// report AUCROC / AUCPR, one line per seed, then mean and sd.
    Eval(EvalArgs),
    /// Train on a whole labeled file (1 = known anomaly, 0 = unlabeled) and write a model.
    Fit(FitArgs),
    /// Score rows with a saved model (higher = more anomalous).
    Score(ScoreArgs),
    /// Built-in synthetic data (the paper's kind: an embedding, one class normal; and a
    /// Gaussian mixture): each method with an AnoOnly variant against it, in seconds.
    Demo(DemoArgs),
    /// Run a grid of evaluations (files x methods x variants x settings x gamma_la x seeds)
    /// in parallel, into a directory: results.jsonl, report.md/.csv beside the paper's
    /// tables, figures (SVG, PNG). `bench merge` joins shards, `bench report` rebuilds.
    Bench(BenchArgs),
}

#[derive(Args, Clone)]
pub(crate) struct DataArgs {
    /// Data file: ADBench .npz (X, y), .npy features (labels from --labels or a sibling
    /// y.npy / NAME_y.npy), or .csv with a header.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// CSV label column (default: `y`).
    #[arg(long)]
    pub(crate) label_column: Option<String>,
    /// Labels file for .npy features.
    #[arg(long)]
    pub(crate) labels: Option<PathBuf>,
}

impl DataArgs {
    pub(crate) fn options(&self) -> LoadOptions {
        LoadOptions {
            label_column: self.label_column.clone(),
            labels: self.labels.clone(),
        }
    }
}

#[derive(Args, Clone)]
pub(crate) struct ModelArgs {
    /// Method.
    #[arg(long, default_value = "deepsad")]
    pub(crate) method: MethodKind,
    /// AnoOnly: no loss on normal rows (lambda_n = 0), BatchNorm before the last layer.
    #[arg(long)]
    pub(crate) anoonly: bool,
    /// Weight of the normal-data loss L_N (default 1, or 0 with --anoonly).
    #[arg(long)]
    pub(crate) lambda_n: Option<f32>,
    /// Override the number of epochs (default: the authors' setting; refused for XGBOD,
    /// whose boosting rounds are `--set n_estimators=N`). `--set epochs=N` wins over it.
    #[arg(long)]
    pub(crate) epochs: Option<usize>,
    /// Skip the optimiser step on batches without loss (default: step, as the authors' code).
    #[arg(long)]
    pub(crate) skip_empty_batches: bool,
    /// The method's `loss` parameter, where it has one (`official` = the authors' code,
    /// `paper` = the paper's losses; `--set loss=...` spelled short).
    #[arg(long)]
    pub(crate) loss: Option<String>,
    /// The method's `compat` parameter, where it has one (`official` replicates the
    /// authors' code's bugs; the default fixes them; `--set compat=...` spelled short).
    #[arg(long)]
    pub(crate) compat: Option<String>,
    /// Any method hyperparameter, `NAME=VALUE` (e.g. `lr=0.001`, `hidden=[64,16]`);
    /// repeatable. It names the field, so it wins over `--epochs` and `--batch-size`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub(crate) set: Vec<String>,
    /// Normalisation layer(s) before the last layer (default: the method's own; with
    /// --anoonly a BatchNorm where the method has none): none, layernorm, bn-noaffine, bn,
    /// bn-loss (the paper's BN-dagger: no BatchNorm, its explicit loss L_BN instead).
    #[arg(long)]
    pub(crate) norm: Option<NormKind>,
    /// Weight of L_BN with --norm bn-loss.
    #[arg(long, default_value_t = DEFAULT_BN_LOSS_WEIGHT)]
    pub(crate) bn_loss_weight: f32,
    /// Training batch size (the method's `batch_size`; an error for a method without one).
    /// `--set batch_size=N` wins over it.
    #[arg(long)]
    pub(crate) batch_size: Option<usize>,
    /// Feature scaling learnt from the training rows and kept in the model, so `score`
    /// applies it too: none (the rows as given), auto (onto [0, 1]: min-max for raw
    /// columns, bit for bit the identity for columns already in [0, 1]), minmax, standard.
    #[arg(long, default_value = "none")]
    pub(crate) preprocessing: Preprocessing,
}

impl ModelArgs {
    /// The flags as the library's [`FitOptions`]: `--loss` and `--compat` are method
    /// parameters like `--set`'s, applied in that order.
    pub(crate) fn fit_options(&self, seed: u64) -> Result<FitOptions> {
        let mut o = FitOptions::new(self.method);
        o.anoonly = self.anoonly;
        o.lambda_n = self.lambda_n;
        o.norm = self.norm;
        o.bn_loss_weight = self.bn_loss_weight;
        o.epochs = self.epochs;
        o.batch_size = self.batch_size;
        o.skip_empty_batches = self.skip_empty_batches;
        o.seed = seed;
        o.preprocessing = self.preprocessing;
        for (name, value) in [("loss", &self.loss), ("compat", &self.compat)] {
            if let Some(v) = value {
                o.params.push((name.to_string(), parse_value(v)));
            }
        }
        for kv in &self.set {
            o.params
                .push(parse_assignment(kv).with_context(|| format!("--set {kv}"))?);
        }
        Ok(o)
    }
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "kebab-case")]
pub(crate) enum SettingArg {
    /// Unlabeled train anomalies dropped (the paper's main tables).
    Clean,
    /// Unlabeled train anomalies kept as unlabeled (the authors' run.py default, label noise).
    Noisy,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ProtocolArg {
    /// As the authors' code: files under 1,000 rows resampled to 1,000 before the split.
    Adbench,
    /// No resampling before the split: no row sits in both train and test.
    LeakageFree,
}

impl SettingArg {
    pub(crate) fn setting(self) -> Setting {
        match self {
            SettingArg::Clean => Setting::Clean,
            SettingArg::Noisy => Setting::Noisy,
        }
    }
}

impl ProtocolArg {
    pub(crate) fn protocol(self) -> Protocol {
        match self {
            ProtocolArg::Adbench => Protocol::Adbench,
            ProtocolArg::LeakageFree => Protocol::LeakageFree,
        }
    }
}
