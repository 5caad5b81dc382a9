//! Batch norms added for training after convolutions that have none, and folded away after.
//!
//! PyTorch's default ONNX export folds every BN into its convolution, and such a network
//! trains badly: without normalisation a learning rate that suits the original training
//! diverges. [`Graph::with_norms_after`] puts a BN after each given convolution (the caller
//! sets its statistics so that it starts as the identity) and [`AddedNorms::fold_back`] folds
//! the trained BNs into their convolutions again, giving a graph of the original structure.

use crate::fold::fold_into;
use crate::{BatchNorm2d, Graph, Node, Op, OutletId};

/// Where [`Graph::with_norms_after`] put its BNs.
#[derive(Clone, Debug, PartialEq)]
pub struct AddedNorms {
    /// The new index of every node of the original graph.
    map: Vec<usize>,
    /// `(convolution in the original graph, its BN in the new one)`.
    added: Vec<(usize, usize)>,
}

impl AddedNorms {
    /// `(convolution in the original graph, its BN in the graph with norms)`, in graph order.
    pub fn added(&self) -> &[(usize, usize)] {
        &self.added
    }

    /// The new index of node `node` of the original graph.
    pub fn new_index(&self, node: usize) -> usize {
        self.map[node]
    }

    /// `original` with the weights of `trained` (a graph with these norms, after training)
    /// and every added BN folded into its convolution, as in eval mode.
    pub fn fold_back(&self, original: &Graph, trained: &Graph) -> Graph {
        let mut graph = original.clone();
        for (node, &new) in graph.nodes.iter_mut().zip(&self.map) {
            node.op = trained.nodes[new].op.clone();
        }
        for &(conv, bn) in &self.added {
            let (Op::Conv2d(conv), Op::BatchNorm2d(bn)) =
                (&mut graph.nodes[conv].op, &trained.nodes[bn].op)
            else {
                unreachable!("added norms pair a convolution with a batch norm");
            };
            fold_into(conv, bn);
        }
        graph
    }
}

impl Graph {
    /// The convolutions whose output no batch norm alone reads: those a BN-folding exporter
    /// left bare.
    pub fn convs_without_norm(&self) -> Vec<usize> {
        let consumers = self.consumers();
        (0..self.nodes.len())
            .filter(|&i| matches!(self.nodes[i].op, Op::Conv2d(_)))
            .filter(|&i| {
                let normalised = matches!(consumers[i].as_slice(), [c]
                    if matches!(self.nodes[*c].op, Op::BatchNorm2d(_)));
                !normalised
            })
            .collect()
    }

    /// A copy with a BN (PyTorch's initial one, see [`BatchNorm2d::identity`]) right after each
    /// of `convs`, which must be convolutions: every reader of a convolution, and the graph's
    /// outputs, read its BN instead.
    pub fn with_norms_after(&self, convs: &[usize]) -> (Graph, AddedNorms) {
        let mut graph = Graph {
            nodes: Vec::with_capacity(self.nodes.len() + convs.len()),
            inputs: Vec::new(),
            outputs: Vec::new(),
            ..self.clone()
        };
        // Where readers of each original node's output now read.
        let mut read_at = Vec::with_capacity(self.nodes.len());
        let mut map = Vec::with_capacity(self.nodes.len());
        let mut added = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let moved = |o: &OutletId| OutletId {
                node: read_at[o.node],
                slot: o.slot,
            };
            let inputs = node.inputs.iter().map(moved).collect();
            map.push(graph.nodes.len());
            graph.nodes.push(Node {
                inputs,
                ..node.clone()
            });
            if let (Op::Conv2d(conv), true) = (&node.op, convs.contains(&i)) {
                {
                    let name = format!("{}.train_bn", node.name);
                    added.push((i, graph.nodes.len()));
                    graph.nodes.push(Node {
                        name: name.clone(),
                        op: Op::BatchNorm2d(BatchNorm2d::identity(conv.out_channels())),
                        inputs: vec![OutletId::new(graph.nodes.len() - 1)],
                        outputs: vec![name],
                    });
                }
            }
            read_at.push(graph.nodes.len() - 1);
        }
        graph.inputs = self.inputs.iter().map(|&i| map[i]).collect();
        graph.outputs = (self.outputs.iter())
            .map(|o| OutletId {
                node: read_at[o.node],
                slot: o.slot,
            })
            .collect();
        (graph, AddedNorms { map, added })
    }
}
