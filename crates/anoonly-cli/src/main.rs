//! The `anoonly` command: all of it is [`anoonly_cli::run`], which the Python package's
//! console script calls too.

fn main() -> std::process::ExitCode {
    anoonly_cli::run(std::env::args_os())
}
