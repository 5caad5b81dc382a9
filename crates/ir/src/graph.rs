//! The graph: nodes in topological order, wired by outlets.

use crate::{Array, BatchNorm2d, Conv2d, Linear, Op, Pool2d};
use serde::{Deserialize, Serialize};

/// One output of one node: `slot` counts the node's outputs from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OutletId {
    pub node: usize,
    pub slot: usize,
}

impl OutletId {
    /// The first (usually only) output of `node`.
    pub fn new(node: usize) -> Self {
        Self { node, slot: 0 }
    }
}

/// A node: one op, the outlets it reads, and the names ONNX knows it by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Unique node name (PyTorch-style module path for built-in architectures).
    pub name: String,
    pub op: Op,
    pub inputs: Vec<OutletId>,
    /// Names of the node's output values, one per slot (ONNX tensor names).
    pub outputs: Vec<String>,
}

/// A network: nodes in topological order, its inputs (nodes holding [`Op::Input`]) and outputs.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<OutletId>,
    /// The default-domain ONNX opset of the file the graph was imported from (`None` for a
    /// graph built here); the exporter writes the same opset when it can.
    #[serde(default)]
    pub onnx_opset: Option<i64>,
    /// Whether the ONNX file the graph was imported from kept its weights in an external data
    /// file; the exporter then writes them the same way.
    #[serde(default)]
    pub onnx_external_data: bool,
}

impl Graph {
    /// The input shape (without batch axis) of the first input, e.g. `[C, H, W]`.
    pub fn input_shape(&self) -> Option<&[usize]> {
        match &self.nodes.get(*self.inputs.first()?)?.op {
            Op::Input { shape } => Some(shape),
            _ => None,
        }
    }

    /// The node called `name`.
    pub fn node_by_name(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// For every node, the nodes that read one of its outputs, in order.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut consumers = vec![Vec::new(); self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            for input in &node.inputs {
                if let Some(list) = consumers.get_mut(input.node)
                    && list.last() != Some(&i)
                {
                    list.push(i);
                }
            }
        }
        consumers
    }
}

/// Builds a graph in order, naming nodes and their output values.
///
/// Architecture code reads like a PyTorch `forward`: `let x = b.conv("conv1", x, conv);`.
pub struct GraphBuilder {
    graph: Graph,
}

impl GraphBuilder {
    /// A builder for a graph named `name` with one input of `shape` (no batch axis).
    pub fn new(name: &str, input_shape: Vec<usize>) -> (Self, OutletId) {
        let mut builder = Self {
            graph: Graph {
                name: name.into(),
                ..Graph::default()
            },
        };
        let x = builder.push("input", Op::Input { shape: input_shape }, vec![]);
        builder.graph.inputs.push(x.node);
        (builder, x)
    }

    /// Appends a node and returns its output.
    pub fn push(&mut self, name: &str, op: Op, inputs: Vec<OutletId>) -> OutletId {
        let id = self.graph.nodes.len();
        self.graph.nodes.push(Node {
            name: name.to_string(),
            op,
            inputs,
            outputs: vec![name.to_string()],
        });
        OutletId::new(id)
    }

    pub fn conv(&mut self, name: &str, x: OutletId, conv: Conv2d) -> OutletId {
        self.push(name, Op::Conv2d(conv), vec![x])
    }

    pub fn bn(&mut self, name: &str, x: OutletId, channels: usize) -> OutletId {
        self.push(
            name,
            Op::BatchNorm2d(BatchNorm2d::identity(channels)),
            vec![x],
        )
    }

    pub fn linear(&mut self, name: &str, x: OutletId, linear: Linear) -> OutletId {
        self.push(name, Op::Linear(linear), vec![x])
    }

    /// A parameter-free op.
    pub fn op(&mut self, name: &str, op: Op, inputs: &[OutletId]) -> OutletId {
        self.push(name, op, inputs.to_vec())
    }

    pub fn max_pool(&mut self, name: &str, x: OutletId, pool: Pool2d) -> OutletId {
        self.push(name, Op::MaxPool2d(pool), vec![x])
    }

    /// Finishes the graph with `output` as its only output.
    pub fn finish(mut self, output: OutletId) -> Graph {
        self.graph.outputs.push(output);
        self.graph
    }
}

impl BatchNorm2d {
    /// A freshly initialised BN layer (gamma 1, beta 0, mean 0, var 1), as PyTorch makes it.
    pub fn identity(channels: usize) -> Self {
        Self {
            gamma: Array::full(vec![channels], 1.0),
            beta: Array::zeros(vec![channels]),
            mean: Array::zeros(vec![channels]),
            var: Array::full(vec![channels], 1.0),
            eps: 1e-5,
            momentum: 0.1,
        }
    }
}
