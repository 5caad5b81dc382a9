//! A criterion of your own: implement [`Importance`] and hand it to the planner or the loop.
//!
//! This one scores a channel by the *variance* of its filter weights (a filter that is nearly
//! constant acts like a blurred average and carries little), reusing the library's helpers
//! for the filters of a group. Run it with `cargo run -p shears-prune --example custom_criterion`.

use shears_ir::zoo::{self, ArchSpec};
use shears_prune::importance::{
    Importance, Reduction, ScoreContext, channel_vectors, weight_members,
};
use shears_prune::pruner::{PruneConfig, Pruner, QuietPruner};
use shears_prune::schedule::Target;
use shears_prune::{ChannelGroup, PruneError};

/// The variance of each channel's filter weights, averaged over the layers computing it.
struct FilterVariance;

impl Importance for FilterVariance {
    fn name(&self) -> String {
        "filter-variance".into()
    }

    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        let per_layer: Vec<Vec<f32>> = weight_members(group)
            .filter_map(|member| channel_vectors(ctx.graph, member, group.channels))
            .map(|filters| filters.iter().map(|f| variance(f)).collect())
            .collect();
        Ok(Reduction::Mean.reduce(per_layer))
    }
}

fn variance(v: &[f32]) -> f32 {
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32
}

fn main() -> Result<(), PruneError> {
    let mut graph = zoo::build("resnet20", &ArchSpec::default()).expect("a built-in");
    let before = graph.mac_count()?;
    let mut criterion = FilterVariance;
    let mut pruner = Pruner {
        config: PruneConfig {
            target: Target::Macs(0.5),
            steps: 2,
            ..PruneConfig::default()
        },
        criterion: &mut criterion,
        data: None, // no fine-tuning: a weight-only criterion needs no data set
        device: Default::default(),
        checkpoint: None,
        model: "resnet20".into(),
    };
    let record = pruner.run(&mut graph, None, &mut QuietPruner)?;
    println!(
        "{}: {} steps, MACs {before} -> {} ({:.1}% removed)",
        record.criterion,
        record.steps.len() - 1,
        graph.mac_count()?,
        100.0 * (1.0 - graph.mac_count()? as f64 / before as f64)
    );
    Ok(())
}
