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

/// mimalloc's `purge_delay` option: how long freed memory stays mapped before it is returned.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Keep freed pages: a training step frees and reallocates the same activation buffers, and
    // returning them makes every step fault in (and zero) fresh pages.
    // SAFETY: setting an allocator option before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
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
