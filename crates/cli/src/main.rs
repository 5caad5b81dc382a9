//! `shears`: the command line. Parses arguments, runs one command, and owns exit codes:
//! 0 on success, 2 on any error (printed once, on one line, by `main`).

mod args;
mod commands;
mod criteria;
mod data;
mod flags;
mod model;
mod output;
mod progress;
mod report;
mod values;

use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, without repeating a cause the message already holds.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    flags::in_cli_terms(&line.replace('\n', " "))
}
