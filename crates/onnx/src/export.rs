//! Export: an IR [`Graph`] to an ONNX `ModelProto` (IR version 8, opset 17).
//!
//! Weights become float32 initializers named as PyTorch names its parameters (`conv1.weight`,
//! `bn1.running_mean`, ...). Op attributes map one to one, with two exceptions: BatchNorm's
//! momentum is written in ONNX's convention (`1 - pytorch`), and [`Op::Silu`], which ONNX lacks
//! at opset 17, becomes a `Sigmoid` node `{name}.sigmoid` and a `Mul` node `{name}` (importing
//! the file gives those two nodes back, which compute the same function). Scalar operands that
//! opset 17 takes as inputs (Clip's min and max, Dropout's ratio) become scalar initializers
//! `{name}.min`, `{name}.max` and `{name}.ratio`.

use crate::OnnxError;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::{Dimension, dimension};
use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, type_proto,
};
use crate::{momentum, tensor};
use shears_ir::{Array, Graph, Node, Op, OutletId, PadMode, Pool2d};
use std::collections::HashSet;

/// The ONNX opset shears writes (default domain).
pub const OPSET_VERSION: i64 = 17;
/// The ONNX IR version shears writes.
pub const IR_VERSION: i64 = 8;
/// `ModelProto.producer_name` of files shears writes.
pub const PRODUCER_NAME: &str = "shears";

/// Builds the ONNX model of `graph`. Fails if the graph does not verify or has clashing value
/// names.
pub fn to_model(graph: &Graph) -> Result<ModelProto, OnnxError> {
    let fail = |detail: String| OnnxError::Export {
        graph: graph.name.clone(),
        detail,
    };
    graph.verify().map_err(|e| fail(e.to_string()))?;
    let shapes = graph.infer_shapes().map_err(|e| fail(e.to_string()))?;
    let mut w = Writer {
        graph,
        proto: GraphProto::default(),
        names: HashSet::new(),
    };
    w.proto.name = graph.name.clone();

    let mut input_nodes: Vec<usize> = graph.inputs.clone();
    input_nodes.extend(
        (0..graph.nodes.len()).filter(|i| {
            matches!(graph.nodes[*i].op, Op::Input { .. }) && !graph.inputs.contains(i)
        }),
    );
    for &i in &input_nodes {
        let name = w.value_name(OutletId::new(i))?;
        w.claim(&name)?;
        w.proto.input.push(value_info(&name, &shapes[i][0]));
    }
    for node in &graph.nodes {
        w.node(node)
            .map_err(|detail| fail(format!("node '{}': {detail}", node.name)))?;
    }
    for &out in &graph.outputs {
        let name = w.value_name(out)?;
        let shape = shapes
            .get(out.node)
            .and_then(|s| s.get(out.slot))
            .cloned()
            .unwrap_or_default();
        w.proto.output.push(value_info(&name, &shape));
    }
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET_VERSION,
        }],
        producer_name: PRODUCER_NAME.into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(w.proto),
        ..ModelProto::default()
    })
}

/// A float32 value `[N, shape...]` with a symbolic batch axis `N`.
fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let batch = Dimension {
        value: Some(dimension::Value::DimParam("N".into())),
        ..Dimension::default()
    };
    let dims = shape.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d as i64)),
        ..Dimension::default()
    });
    let tensor = type_proto::Tensor {
        elem_type: DataType::Float as i32,
        shape: Some(TensorShapeProto {
            dim: std::iter::once(batch).chain(dims).collect(),
        }),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: Some(value),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: Some(value),
        ..Default::default()
    }
}

/// Collects the ONNX graph, checking that every value name is used once.
struct Writer<'g> {
    graph: &'g Graph,
    proto: GraphProto,
    names: HashSet<String>,
}

impl Writer<'_> {
    /// The tensor name of an outlet.
    fn value_name(&self, outlet: OutletId) -> Result<String, OnnxError> {
        let node = &self.graph.nodes[outlet.node];
        node.outputs
            .get(outlet.slot)
            .cloned()
            .ok_or_else(|| OnnxError::Export {
                graph: self.graph.name.clone(),
                detail: format!(
                    "node '{}' has no name for its output {}",
                    node.name, outlet.slot
                ),
            })
    }

    fn claim(&mut self, name: &str) -> Result<(), OnnxError> {
        if name.is_empty() || !self.names.insert(name.to_string()) {
            return Err(OnnxError::Export {
                graph: self.graph.name.clone(),
                detail: format!(
                    "two values (outputs or weights) are named '{name}': ONNX value names must be unique and non-empty"
                ),
            });
        }
        Ok(())
    }

    /// Adds an initializer and returns its name.
    fn init(&mut self, tensor: TensorProto) -> Result<String, String> {
        self.claim(&tensor.name).map_err(|e| e.to_string())?;
        let name = tensor.name.clone();
        self.proto.initializer.push(tensor);
        Ok(name)
    }

    fn weight(&mut self, node: &Node, suffix: &str, array: &Array) -> Result<String, String> {
        self.init(tensor::float_tensor(
            &format!("{}.{suffix}", node.name),
            &array.shape,
            &array.data,
        ))
    }

    fn indices(&mut self, node: &Node, suffix: &str, values: &[i64]) -> Result<String, String> {
        self.init(tensor::int_tensor(
            &format!("{}.{suffix}", node.name),
            &[values.len()],
            values,
        ))
    }

    fn scalar(&mut self, node: &Node, suffix: &str, value: f32) -> Result<String, String> {
        self.init(tensor::scalar(&format!("{}.{suffix}", node.name), value))
    }

    fn push(
        &mut self,
        name: &str,
        op_type: &str,
        input: Vec<String>,
        output: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> Result<(), String> {
        for out in &output {
            self.claim(out).map_err(|e| e.to_string())?;
        }
        self.proto.node.push(NodeProto {
            name: name.into(),
            op_type: op_type.into(),
            input,
            output,
            attribute,
            ..NodeProto::default()
        });
        Ok(())
    }

    /// Writes one IR node as ONNX nodes and initializers.
    fn node(&mut self, node: &Node) -> Result<(), String> {
        let mut input = Vec::with_capacity(node.inputs.len() + 2);
        for &outlet in &node.inputs {
            input.push(self.value_name(outlet).map_err(|e| e.to_string())?);
        }
        let output = node.outputs.clone();
        let name = node.name.as_str();
        let op_type = node.op.type_name();
        let attrs = match &node.op {
            Op::Input { .. } => return Ok(()),
            Op::Constant { value } => {
                let tensor = tensor::float_tensor(&output[0], &value.shape, &value.data);
                return self.init(tensor).map(drop);
            }
            Op::PermuteChannels { order } => {
                let order: Vec<i64> = order.iter().map(|&c| c as i64).collect();
                input.push(self.indices(node, "indices", &order)?);
                vec![int("axis", 1)]
            }
            Op::Slice { axis, start, end } => {
                input.push(self.indices(node, "starts", &[*start as i64])?);
                input.push(self.indices(node, "ends", &[*end as i64])?);
                input.push(self.indices(node, "axes", &[*axis as i64])?);
                vec![]
            }
            Op::Pad { pads, mode } => {
                let [t, l, b, r] = pads.map(|p| p as i64);
                input.push(self.indices(node, "pads", &[0, 0, t, l, 0, 0, b, r])?);
                let mode = match mode {
                    PadMode::Constant(value) => {
                        input.push(self.scalar(node, "value", *value)?);
                        "constant"
                    }
                    PadMode::Reflect => "reflect",
                    PadMode::Edge => "edge",
                };
                vec![string("mode", mode)]
            }
            Op::Lrn {
                size,
                alpha,
                beta,
                bias,
            } => vec![
                int("size", *size as i64),
                float("alpha", *alpha),
                float("beta", *beta),
                float("bias", *bias),
            ],
            Op::Conv2d(c) => {
                input.push(self.weight(node, "weight", &c.weight)?);
                if let Some(b) = &c.bias {
                    input.push(self.weight(node, "bias", b)?);
                }
                vec![
                    ints("kernel_shape", &c.kernel()),
                    ints("strides", &c.stride),
                    ints("pads", &c.padding),
                    ints("dilations", &c.dilation),
                    int("group", c.groups as i64),
                ]
            }
            Op::BatchNorm2d(b) => {
                input.push(self.weight(node, "weight", &b.gamma)?);
                input.push(self.weight(node, "bias", &b.beta)?);
                input.push(self.weight(node, "running_mean", &b.mean)?);
                input.push(self.weight(node, "running_var", &b.var)?);
                vec![
                    float("epsilon", b.eps),
                    float("momentum", momentum::to_onnx(b.momentum)),
                ]
            }
            Op::Linear(l) => {
                input.push(self.weight(node, "weight", &l.weight)?);
                if let Some(b) = &l.bias {
                    input.push(self.weight(node, "bias", b)?);
                }
                vec![float("alpha", 1.0), float("beta", 1.0), int("transB", 1)]
            }
            Op::Clip { min, max } => {
                input.push(self.scalar(node, "min", *min)?);
                input.push(self.scalar(node, "max", *max)?);
                vec![]
            }
            Op::LeakyRelu { alpha } => vec![float("alpha", *alpha)],
            Op::HardSigmoid { alpha, beta } => vec![float("alpha", *alpha), float("beta", *beta)],
            Op::Silu => {
                let gate = format!("{name}.sigmoid");
                self.push(&gate, "Sigmoid", input.clone(), vec![gate.clone()], vec![])?;
                input.push(gate);
                return self.push(name, "Mul", input, output, vec![]);
            }
            Op::MaxPool2d(p) => {
                let mut attrs = pool_attrs(p);
                attrs.push(ints("dilations", &p.dilation));
                attrs
            }
            Op::AvgPool2d(p) => {
                if p.dilation != [1, 1] {
                    return Err(format!(
                        "AveragePool with dilation {:?} needs opset 19; shears writes opset {OPSET_VERSION}",
                        p.dilation
                    ));
                }
                let mut attrs = pool_attrs(p);
                attrs.push(int("count_include_pad", p.count_include_pad as i64));
                attrs
            }
            Op::Flatten { axis } | Op::Concat { axis } | Op::Softmax { axis } => {
                vec![int("axis", *axis as i64)]
            }
            Op::Dropout { ratio } => {
                input.push(self.scalar(node, "ratio", *ratio)?);
                vec![]
            }
            Op::Relu
            | Op::Sigmoid
            | Op::HardSwish
            | Op::Tanh
            | Op::GlobalAvgPool
            | Op::Add
            | Op::Mul
            | Op::Sub
            | Op::Div
            | Op::Identity => vec![],
        };
        self.push(name, op_type, input, output, attrs)
    }
}

fn pool_attrs(p: &Pool2d) -> Vec<AttributeProto> {
    vec![
        ints("kernel_shape", &p.kernel),
        ints("strides", &p.stride),
        ints("pads", &p.padding),
        int("ceil_mode", p.ceil_mode as i64),
    ]
}
