//! One module per subcommand; `run` dispatches.

mod bench;
mod demo;
mod eval;
mod export;
mod groups;
mod info;
mod prune;
mod rank;
mod retrain;
mod run;
mod sensitivity;
mod train;

use crate::args::{Cli, Command};
use anyhow::Result;

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info(args) => info::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Groups(args) => groups::run(&args),
        Command::Train(args) => train::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Prune(args) => prune::run(&args),
        Command::Rank(args) => rank::run(&args),
        Command::Sensitivity(args) => sensitivity::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Demo(args) => demo::run(&args),
    }
}

/// Millions, with two decimals.
fn millions(n: f64) -> String {
    format!("{:.2}M", n / 1e6)
}
