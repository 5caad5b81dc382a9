//! `shears groups MODEL`: the channel groups that must be pruned together, with their members
//! and, for groups that cannot be pruned, the reason.

use crate::args::GroupsArgs;
use crate::data::{Data, shape_of};
use crate::model;
use anyhow::Result;
use shears_data::Split;
use shears_prune::DependencyGraph;

pub fn run(args: &GroupsArgs) -> Result<()> {
    let data_shape = match Data::from_args(&args.data)? {
        Some(data) => Some(shape_of(&*data.load(Split::Test)?)),
        None => None,
    };
    let graph = model::load(&args.model, data_shape)?;
    let deps = DependencyGraph::build(&graph)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(deps.groups())?);
        return Ok(());
    }
    for group in deps.groups() {
        println!("{group}");
    }
    let prunable = deps.groups().iter().filter(|g| g.is_prunable()).count();
    println!(
        "\n{}: {} groups, {prunable} prunable",
        args.model.model,
        deps.groups().len()
    );
    Ok(())
}
