//! `anoonly score`: score rows with a saved model, as CSV, with 0/1 predictions at a
//! contamination rate (the library's threshold and rule).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use anoonly::data;
use anoonly::metrics::evaluate;
use anoonly::model_file;
use anoonly::output::{check_output_path, write_atomic};
use anoonly::probability::is_anomaly;

use crate::args::DataArgs;

#[derive(Args)]
pub(crate) struct ScoreArgs {
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

pub(crate) fn run(a: ScoreArgs) -> Result<()> {
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
            out.push_str(if is_anomaly(*s, t) { ",1" } else { ",0" });
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
