//! Han et al.'s Dropout adjustment for retraining ("Learning both Weights and Connections",
//! section 3.2): a pruned layer has fewer connections, each already less likely to
//! co-adapt, so the Dropout in front of it is lowered to `D_r = D_o · sqrt(C_r / C_o)`, `C`
//! the layer's connections (its kept weights).

use shears_ir::{Graph, Op, filter_weight};

/// Scales the ratio of every Dropout in `after` by `sqrt(C_after / C_before)` of the layer it
/// feeds, `before` being the model the step started from (nodes matched by name). Applied
/// step after step, the factors multiply to Han's `sqrt(C_r / C_o)`. Returns how many
/// Dropouts changed.
pub fn scale_dropout(before: &Graph, after: &mut Graph) -> usize {
    let mut changed = 0;
    for node in 0..after.nodes.len() {
        let Op::Dropout { ratio } = after.nodes[node].op else {
            continue;
        };
        let Some(fed) = fed_layer(after, node) else {
            continue;
        };
        let name = &after.nodes[fed].name;
        let Some(old) = before.node_by_name(name) else {
            continue;
        };
        let (Some(c_r), Some(c_o)) = (connections(after, fed), connections(before, old)) else {
            continue;
        };
        if c_o > 0 && c_r != c_o {
            let scaled = ratio * (c_r as f32 / c_o as f32).sqrt();
            after.nodes[node].op = Op::Dropout { ratio: scaled };
            changed += 1;
        }
    }
    changed
}

/// The conv or linear layer that takes in what Dropout `node` lets through, past
/// parameter-free ops with one reader (a flatten, an activation); `None` if its output
/// branches or meets another parameterised op first.
fn fed_layer(graph: &Graph, node: usize) -> Option<usize> {
    let consumers = graph.consumers();
    let mut at = node;
    loop {
        let [next] = consumers[at][..] else {
            return None;
        };
        let op = &graph.nodes[next].op;
        if filter_weight(op).is_some() {
            return Some(next);
        }
        if !op.param_arrays().is_empty() {
            return None;
        }
        at = next;
    }
}

/// The weights a layer still has: its weight's elements less the masked ones.
fn connections(graph: &Graph, node: usize) -> Option<usize> {
    let w = filter_weight(&graph.nodes[node].op)?;
    Some(w.len() - w.masked_count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shears_ir::zoo::{self, ArchSpec};

    fn dropout_ratio(g: &Graph) -> f32 {
        let node = g.node_by_name("classifier.0").unwrap();
        match g.nodes[node].op {
            Op::Dropout { ratio } => ratio,
            _ => unreachable!(),
        }
    }

    #[test]
    fn dropout_follows_the_square_root_of_the_connections_left() {
        let before = zoo::build("mobilenetv2", &ArchSpec::default()).unwrap();
        let mut after = before.clone();
        let fc = after.node_by_name("classifier.1").unwrap();
        let w = shears_ir::filter_weight_mut(&mut after.nodes[fc].op).unwrap();
        // Keep a quarter of the classifier's weights: the ratio halves.
        let keep: Vec<bool> = (0..w.len()).map(|i| i % 4 == 0).collect();
        w.restrict(&keep);
        assert_eq!(scale_dropout(&before, &mut after), 1);
        assert!((dropout_ratio(&after) - 0.1).abs() < 1e-6);
        // Nothing changed since: nothing to scale.
        let again = after.clone();
        assert_eq!(scale_dropout(&again, &mut after), 0);
        assert!((dropout_ratio(&after) - 0.1).abs() < 1e-6);
    }
}
