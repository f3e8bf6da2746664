//! The `ax` binary: `ax serve` and every operator command. `main` only decides the exit
//! code (0 success, 1 a failed check or request, 2 a usage error); `run` does the
//! work; an error prints as one line, `ax: ` then the message and its causes. A closed
//! stdout pipe (`ax provider logs | head`) is not an error: exit 0, silently.

// Every write to stdout goes through `output` (see its module doc).
#![deny(clippy::print_stdout)]

mod api;
mod cli;
mod client;
mod commands;
mod error;
mod fd_limit;
mod hints;
mod output;
mod store;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args) {
        Ok(code) => code,
        Err(err) if output::is_closed_stdout(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the message and its causes.
            let mut line = format!("ax: {err}");
            for cause in err.chain().skip(1) {
                line.push_str(": ");
                line.push_str(&cause.to_string());
            }
            eprintln!("{line}");
            ExitCode::from(error::exit_code(&err))
        }
    }
}
