//! Helpers shared by the integration tests: seeded arrays, a graph using every op, and
//! hand-built ONNX protos standing in for files from other exporters.

#![allow(dead_code)]

use shears_ir::{Array, BatchNorm2d, Conv2d, Graph, GraphBuilder, Linear, Op, Pool2d};
use shears_onnx::proto::attribute_proto::AttributeType;
use shears_onnx::proto::tensor_shape_proto::{Dimension, dimension};
use shears_onnx::proto::*;

/// A tiny deterministic generator (64-bit LCG) for test weights.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(
            seed.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        )
    }
    /// A value in [-1, 1).
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn array(&mut self, shape: Vec<usize>) -> Array {
        let data = (0..shape.iter().product()).map(|_| self.next()).collect();
        Array::new(shape, data)
    }
}

/// A graph using every IR op except Silu, with random weights and non-default attributes.
pub fn every_op_graph() -> Graph {
    let mut r = Rng::new(42);
    let (mut b, x) = GraphBuilder::new("every_op", vec![3, 16, 16]);
    let conv =
        |r: &mut Rng, cin: usize, cout: usize, groups: usize, dil: usize, bias: bool| Conv2d {
            weight: r.array(vec![cout, cin / groups, 3, 3]),
            bias: bias.then(|| r.array(vec![cout])),
            stride: [1, 1],
            padding: [dil; 4],
            dilation: [dil, dil],
            groups,
        };
    let x = b.conv("conv1", x, conv(&mut r, 3, 8, 1, 1, true));
    let bn = BatchNorm2d {
        gamma: r.array(vec![8]),
        beta: r.array(vec![8]),
        mean: r.array(vec![8]),
        var: Array::new(vec![8], (0..8).map(|i| 0.5 + i as f32).collect()),
        eps: 1e-3,
        momentum: 0.01,
    };
    let x = b.push("bn1", Op::BatchNorm2d(bn), vec![x]);
    let x = b.op("lrelu", Op::LeakyRelu { alpha: 0.2 }, &[x]);
    let x = b.conv(
        "dw",
        x,
        Conv2d {
            stride: [2, 1],
            ..conv(&mut r, 8, 8, 8, 2, false)
        },
    );
    let x = b.op("hswish", Op::HardSwish, &[x]);
    let x = b.op(
        "hsig",
        Op::HardSigmoid {
            alpha: 0.25,
            beta: 0.4,
        },
        &[x],
    );
    let mp = Pool2d {
        padding: [0, 0, 1, 1],
        ceil_mode: true,
        ..Pool2d::square(3, 2, 0)
    };
    let x = b.max_pool("maxpool", x, mp);
    let ap = Pool2d {
        count_include_pad: true,
        ..Pool2d::square(3, 1, 1)
    };
    let a = b.op("avgpool", Op::AvgPool2d(ap), &[x]);
    let g = b.op("se.pool", Op::GlobalAvgPool, &[a]);
    let g = b.op("se.gate", Op::Sigmoid, &[g]);
    let m = b.op("se.mul", Op::Mul, &[a, g]);
    let t = b.op("tanh", Op::Tanh, &[a]);
    let x = b.op("cat", Op::Concat { axis: 1 }, &[m, t]);
    let x = b.op(
        "clip",
        Op::Clip {
            min: -1.0,
            max: 1.0,
        },
        &[x],
    );
    let i = b.op("id", Op::Identity, &[x]);
    let rl = b.op("relu", Op::Relu, &[x]);
    let x = b.op("add", Op::Add, &[rl, i]);
    let x = b.op("gap", Op::GlobalAvgPool, &[x]);
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let x = b.op("drop", Op::Dropout { ratio: 0.3 }, &[x]);
    let x = b.linear(
        "fc1",
        x,
        Linear {
            weight: r.array(vec![5, 16]),
            bias: Some(r.array(vec![5])),
        },
    );
    let x = b.linear(
        "fc2",
        x,
        Linear {
            weight: r.array(vec![5, 5]),
            bias: None,
        },
    );
    let x = b.op("softmax", Op::Softmax { axis: 1 }, &[x]);
    let mut graph = b.finish(x);
    // A value named differently from its node.
    let tanh = graph.node_by_name("tanh").unwrap();
    graph.nodes[tanh].outputs = vec!["tanh_out".into()];
    graph.verify().unwrap();
    graph
}

pub fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: Some(i),
        ..Default::default()
    }
}

pub fn attr_ints(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

pub fn attr_float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: Some(f),
        ..Default::default()
    }
}

pub fn attr_string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: Some(s.as_bytes().to_vec()),
        ..Default::default()
    }
}

pub fn attr_tensor(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Tensor as i32,
        t: Some(t),
        ..Default::default()
    }
}

pub fn node(
    op_type: &str,
    name: &str,
    input: &[&str],
    output: &[&str],
    attribute: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op_type.into(),
        name: name.into(),
        input: input.iter().map(|s| s.to_string()).collect(),
        output: output.iter().map(|s| s.to_string()).collect(),
        attribute,
        ..Default::default()
    }
}

/// A FLOAT tensor stored in `float_data` (as some exporters write small tensors).
pub fn float_data(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        float_data: data.to_vec(),
        ..Default::default()
    }
}

/// A FLOAT tensor stored in `raw_data`.
pub fn raw_data(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 1,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An INT64 tensor.
pub fn int64_data(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: 7,
        int64_data: data.to_vec(),
        ..Default::default()
    }
}

/// A dimension: a number, or a symbol when `None`.
pub fn dim(d: Option<i64>) -> Dimension {
    let value = match d {
        Some(n) => dimension::Value::DimValue(n),
        None => dimension::Value::DimParam("batch".into()),
    };
    Dimension {
        value: Some(value),
        ..Default::default()
    }
}

/// A FLOAT value info; `None` dims are symbolic.
pub fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let tensor = type_proto::Tensor {
        elem_type: 1,
        shape: Some(TensorShapeProto {
            dim: dims.iter().map(|d| dim(*d)).collect(),
        }),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A model at `opset` around a graph.
pub fn model(
    opset: i64,
    node: Vec<NodeProto>,
    initializer: Vec<TensorProto>,
    input: Vec<ValueInfoProto>,
    output: Vec<ValueInfoProto>,
) -> ModelProto {
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "test".into(),
        graph: Some(GraphProto {
            name: "g".into(),
            node,
            initializer,
            input,
            output,
            ..Default::default()
        }),
        ..Default::default()
    }
}
