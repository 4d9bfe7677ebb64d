//! `anoonly`: the command-line front end, as a library so that the `anoonly` binary and the
//! Python package's console script run the same code ([`run`]). Parsing and printing only:
//! every decision is the core library's ([`anoonly::methods::FitOptions`],
//! [`anoonly::experiment`], [`anoonly_bench`]).
//!
//! Modules: `args` (the parser and the flags several subcommands share), one module per
//! subcommand (`eval`, `fit`, `score`, `demo`, `bench`: its own flags and what it runs),
//! `progress` (what they show on stderr while they run).

mod args;
mod bench;
mod demo;
mod eval;
mod fit;
mod progress;
mod score;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};

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
    // eval/fit/score/demo run in a pool of --threads threads (default: all cores) that
    // their products and passes share (nn::with_threads); `bench` runs one cell per worker
    // thread, each on its own core (RunOptions::matmul_threads).
    let threads = cli.threads.unwrap_or_else(anoonly::nn::available_threads);
    let result = match cli.command {
        Command::Bench(a) => bench::run(a, cli.threads),
        command => anoonly::nn::with_threads(threads, || match command {
            Command::Eval(a) => eval::run(a),
            Command::Fit(a) => fit::run(a),
            Command::Score(a) => score::run(a),
            Command::Demo(a) => demo::run(a),
            Command::Bench(a) => bench::run(a, cli.threads),
        }),
    };
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
