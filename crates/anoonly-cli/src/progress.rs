//! Progress on stderr: the epoch line of `eval` and `fit` on a terminal, and `bench`'s bar
//! or per-cell lines.

use std::io::{IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use anoonly::train::EpochReport;
use anoonly_bench::{BenchObserver, Cell, CellOutcome, Counts};

/// Epoch progress on stderr when it is a terminal: `LABEL: epoch 3/50 loss 0.1234`.
pub(crate) struct EpochLine {
    tty: bool,
    pub(crate) label: String,
}

impl EpochLine {
    pub(crate) fn new(label: String) -> Self {
        EpochLine {
            tty: std::io::stderr().is_terminal(),
            label,
        }
    }

    pub(crate) fn show(&self, r: &EpochReport) {
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

/// How `bench` shows its progress.
pub(crate) enum BenchDisplay {
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

    fn figure_started(&self, what: &str) {
        if !matches!(self, BenchDisplay::Quiet) {
            eprintln!("computing {what}");
        }
    }
}
