//! Lists the channel groups of a built-in architecture: `cargo run -p shears-prune --example groups -- resnet20`.

use shears_ir::zoo::{self, ArchSpec};
use shears_prune::DependencyGraph;

fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "resnet20".into());
    let Some(graph) = zoo::build(&name, &ArchSpec::default()) else {
        eprintln!(
            "unknown architecture '{name}'; choose one of {}",
            zoo::NAMES.join(", ")
        );
        std::process::exit(2);
    };
    let deps = DependencyGraph::build(&graph).unwrap();
    for group in deps.groups() {
        println!("{group}");
    }
}
