//! torch.export's `as_strided` of a map that is already in order: PyTorch writes it as
//! `Gather(Reshape(x, [-1]), Range(0, N) * S + offsets)`, reading every sample `x[n]` at
//! `n * S + offsets` of the flattened batch. When the offsets are `0, 1, 2, ...` and `S` is one
//! sample's size (ConvNeXt's flatten of its pooled map, whose channels-last strides are plain
//! ones at 1x1), the gather is `x` itself: the chain is removed before import and the gather
//! becomes an `Identity` of `x`.

use crate::proto::{GraphProto, NodeProto, TensorProto};
use crate::tensor;
use std::collections::{HashMap, HashSet};

/// `g` with every in-order `as_strided` chain replaced, or `None` if it has none.
pub(crate) fn rewrite(g: &GraphProto) -> Option<GraphProto> {
    let graph = Chains::new(g);
    let mut removed: HashSet<usize> = HashSet::new();
    let mut identities: HashMap<usize, String> = HashMap::new();
    for (i, node) in g.node.iter().enumerate() {
        if let Some((x, chain)) = graph.in_order_gather(node) {
            identities.insert(i, x);
            removed.extend(chain);
        }
    }
    if identities.is_empty() {
        return None;
    }
    let mut out = g.clone();
    out.node = g
        .node
        .iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(i, n)| match identities.get(&i) {
            Some(x) => NodeProto {
                op_type: "Identity".into(),
                input: vec![x.clone()],
                attribute: Vec::new(),
                ..n.clone()
            },
            None => n.clone(),
        })
        .collect();
    Some(out)
}

/// Who produces and who reads each value of a graph, and its constants.
struct Chains<'g> {
    nodes: &'g [NodeProto],
    producer: HashMap<&'g str, usize>,
    uses: HashMap<&'g str, usize>,
    consts: HashMap<&'g str, &'g TensorProto>,
}

impl<'g> Chains<'g> {
    fn new(g: &'g GraphProto) -> Self {
        let mut producer = HashMap::new();
        let mut uses: HashMap<&str, usize> = HashMap::new();
        let mut consts: HashMap<&str, &TensorProto> =
            g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
        for (i, n) in g.node.iter().enumerate() {
            for o in &n.output {
                producer.insert(o.as_str(), i);
            }
            for input in &n.input {
                *uses.entry(input.as_str()).or_default() += 1;
            }
            if n.op_type == "Constant"
                && let (Some(o), Some(t)) = (
                    n.output.first(),
                    n.attribute
                        .iter()
                        .find(|a| a.name == "value")
                        .and_then(|a| a.t.as_ref()),
                )
            {
                consts.insert(o.as_str(), t);
            }
        }
        for o in &g.output {
            *uses.entry(o.name.as_str()).or_default() += 1;
        }
        Self {
            nodes: &g.node,
            producer,
            uses,
            consts,
        }
    }

    /// The node producing `value` if `value` is read once and `op_type` makes it.
    fn only_use(&self, value: &str, op_type: &str) -> Option<(usize, &'g NodeProto)> {
        let &i = self.producer.get(value)?;
        let node = &self.nodes[i];
        (node.op_type == op_type && self.uses.get(value) == Some(&1)).then_some((i, node))
    }

    fn ints(&self, value: &str) -> Option<Vec<i64>> {
        tensor::to_ints(self.consts.get(value)?).ok()
    }

    /// For a `Gather` on axis 0 of a flattened batch at in-order offsets: the map read and the
    /// nodes of the chain (the gather excepted).
    fn in_order_gather(&self, gather: &NodeProto) -> Option<(String, Vec<usize>)> {
        let axis = gather
            .attribute
            .iter()
            .find(|a| a.name == "axis")
            .and_then(|a| a.i);
        if gather.op_type != "Gather" || axis.unwrap_or(0) != 0 || gather.input.len() != 2 {
            return None;
        }
        let (flat_i, flat) = self.only_use(&gather.input[0], "Reshape")?;
        if self.ints(flat.input.get(1)?)? != [-1] {
            return None;
        }
        let mut chain = vec![flat_i];
        // Constant offsets added on top of the batch term.
        let mut index = gather.input[1].as_str();
        let mut offsets: Vec<Vec<i64>> = Vec::new();
        while let Some((i, add)) = self.only_use(index, "Add") {
            let (konst, other) = match (self.ints(&add.input[0]), self.ints(&add.input[1])) {
                (None, Some(c)) => (c, &add.input[0]),
                (Some(c), None) => (c, &add.input[1]),
                _ => return None,
            };
            offsets.push(konst);
            chain.push(i);
            index = other;
        }
        let (unsqueeze_i, unsqueeze) = self.only_use(index, "Unsqueeze")?;
        let (mul_i, mul) = self.only_use(&unsqueeze.input[0], "Mul")?;
        let (stride, range_value) = match (self.ints(&mul.input[0]), self.ints(&mul.input[1])) {
            (None, Some(s)) => (s, &mul.input[0]),
            (Some(s), None) => (s, &mul.input[1]),
            _ => return None,
        };
        let (range_i, range) = self.only_use(range_value, "Range")?;
        let starts_at_zero = self.ints(&range.input[0])? == [0];
        let steps_by_one = self.ints(range.input.get(2)?)? == [1];
        chain.extend([unsqueeze_i, mul_i, range_i]);
        // The offsets of one sample, summed; in order means 0, 1, 2, ... up to the stride.
        let per_sample = offsets.iter().map(Vec::len).max()?;
        let summed: Vec<i64> = (0..per_sample)
            .map(|k| {
                offsets
                    .iter()
                    .map(|o| if o.len() == 1 { o[0] } else { o[k] })
                    .sum()
            })
            .collect();
        let in_order = summed.iter().enumerate().all(|(k, &v)| v == k as i64);
        let whole = stride == [per_sample as i64];
        // One offset tensor spans the sample, the others are single values.
        let broadcastable = offsets.iter().filter(|o| o.len() > 1).count() <= 1;
        (starts_at_zero && steps_by_one && in_order && whole && broadcastable)
            .then(|| (flat.input[0].clone(), chain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(op_type: &str, input: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op_type.into(),
            input: input.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..NodeProto::default()
        }
    }

    /// `Gather(Reshape(x, [-1]), Range(0, n) * 4 + offsets)` on `[N, 4, 1, 1]` values.
    fn strided(offsets: &[i64]) -> GraphProto {
        let ints = |name: &str, shape: &[usize], v: &[i64]| tensor::int_tensor(name, shape, v);
        GraphProto {
            node: vec![
                node("Reshape", &["x", "flat_shape"], "flat"),
                node("Range", &["zero", "n", "one"], "r"),
                node("Mul", &["r", "stride"], "m"),
                node("Unsqueeze", &["m", "axes"], "u"),
                node("Add", &["u", "offsets"], "idx"),
                node("Gather", &["flat", "idx"], "y"),
            ],
            initializer: vec![
                ints("flat_shape", &[1], &[-1]),
                ints("zero", &[], &[0]),
                ints("one", &[], &[1]),
                ints("stride", &[], &[4]),
                ints("axes", &[3], &[1, 2, 3]),
                ints("offsets", &[1, 4, 1, 1], offsets),
            ],
            ..GraphProto::default()
        }
    }

    #[test]
    fn an_in_order_gather_becomes_the_map() {
        let g = rewrite(&strided(&[0, 1, 2, 3])).unwrap();
        assert_eq!(g.node.len(), 1);
        assert_eq!(
            (g.node[0].op_type.as_str(), g.node[0].input.as_slice()),
            ("Identity", &["x".to_string()][..])
        );
        assert_eq!(g.node[0].output, ["y"]);
    }

    #[test]
    fn a_reordering_gather_is_left_alone() {
        assert!(rewrite(&strided(&[3, 2, 1, 0])).is_none());
        assert!(rewrite(&strided(&[0, 1, 2, 4])).is_none());
    }
}
