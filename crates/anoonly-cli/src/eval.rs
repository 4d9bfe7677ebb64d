//! `anoonly eval`: its flags, turned into the library's [`EvalRequest`], and its printing
//! (a line or a JSON object per seed, then the summary).

use std::ops::ControlFlow;

use anyhow::Result;
use clap::Args;

use anoonly::experiment::{
    record_line, summary_line, EvalData, EvalRecord, EvalRequest, SeedObserver, DEFAULT_SEEDS,
};
use anoonly::protocol::{Labeled, SplitParams};
use anoonly::train::EpochReport;

use crate::args::{DataArgs, ModelArgs, ProtocolArg, SettingArg};
use crate::progress::EpochLine;

#[derive(Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    model: ModelArgs,
    // The values are the library's names, the defaults the library's (SplitParams).
    #[arg(long, value_enum, default_value = SplitParams::default().setting.name())]
    setting: SettingArg,
    #[arg(long, value_enum, default_value = SplitParams::default().protocol.name())]
    protocol: ProtocolArg,
    /// Fraction of train anomalies that are labeled (at least one).
    #[arg(long, default_value_t = default_gamma_la())]
    gamma_la: f64,
    /// Label exactly N train anomalies instead of a fraction (ADBench's count mode, `nla`:
    /// the first N of the draw the ratio makes); a train split with fewer is refused.
    #[arg(long, value_name = "N", conflicts_with = "gamma_la")]
    n_labeled: Option<usize>,
    /// Fraction of the train normals kept (the first ones of the shuffled train split), in
    /// (0, 1].
    #[arg(long, default_value_t = SplitParams::default().normal_ratio)]
    normal_ratio: f64,
    /// Rows drawn from larger files before the split (as ADBench), or `none` for all rows.
    #[arg(long, default_value_t = MaxRows(SplitParams::default().max_rows), value_parser = parse_max_rows)]
    max_rows: MaxRows,
    /// Seeds (data split and model), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_SEEDS.to_vec())]
    seeds: Vec<u64>,
    /// One JSON object per line on stdout; the summary goes to stderr.
    #[arg(long)]
    json: bool,
}

/// The protocol's default ratio (`SplitParams::default()`), `--gamma-la`'s default.
fn default_gamma_la() -> f64 {
    SplitParams::default().labeled.ratio().unwrap_or(0.1)
}

/// `--max-rows`: a row count, or `none` for no cap.
#[derive(Clone, Copy)]
struct MaxRows(Option<usize>);

impl std::fmt::Display for MaxRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n}"),
            None => f.write_str("none"),
        }
    }
}

fn parse_max_rows(s: &str) -> Result<MaxRows, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(MaxRows(None));
    }
    s.parse()
        .map(|n| MaxRows(Some(n)))
        .map_err(|_| format!("expected a row count or `none`, got {s:?}"))
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

pub(crate) fn run(a: EvalArgs) -> Result<()> {
    let request = EvalRequest {
        data: EvalData::File {
            path: a.data.data.clone(),
            options: a.data.options(),
        },
        split: SplitParams {
            protocol: a.protocol.protocol(),
            setting: a.setting.setting(),
            labeled: match a.n_labeled {
                Some(k) => Labeled::Count(k),
                None => Labeled::Ratio(a.gamma_la),
            },
            normal_ratio: a.normal_ratio,
            max_rows: a.max_rows.0,
            ..SplitParams::default()
        },
        fit: a.model.fit_options(0)?,
        seeds: a.seeds,
    };
    let mut printer = EvalPrinter {
        json: a.json,
        line: EpochLine::new(String::new()),
    };
    let records = request.run(&mut printer)?;
    let line = summary_line(&records);
    if a.json {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(())
}
