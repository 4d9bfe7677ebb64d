//! `anoonly fit`: train on a whole labeled file and write a model file.

use std::ops::ControlFlow;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use anoonly::data;
use anoonly::model_file;
use anoonly::output::check_output_path;
use anoonly::protocol;
use anoonly::train::EpochReport;

use crate::args::{DataArgs, ModelArgs};
use crate::progress::EpochLine;

#[derive(Args)]
pub(crate) struct FitArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Keep only N of the file's labeled anomalies (the others become unlabeled rows),
    /// drawn at --seed as `eval --n-labeled` draws them (ADBench's count mode); a file with
    /// fewer is refused.
    #[arg(long, value_name = "N")]
    n_labeled: Option<usize>,
    /// Model file to write (safetensors with a JSON config).
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn run(a: FitArgs) -> Result<()> {
    let params = a.model.fit_options(a.seed)?.build()?;
    check_output_path(&a.out).map_err(anyhow::Error::msg)?;
    // All-0 labels are the fit's to judge (DeepSAD trains on them as Deep SVDD).
    let mut ds = data::load_labeled(&a.data.data, &a.data.options())?;
    if let Some(n) = a.n_labeled {
        ds.y = protocol::keep_labeled(ds.y.view(), n, a.seed)
            .with_context(|| format!("{}", a.data.data.display()))?;
    }
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
