//! Import: an ONNX `ModelProto` to an IR [`Graph`].
//!
//! Steps: check that every op is supported (one error lists all that are not); turn the graph
//! inputs that are not initializers into [`Op::Input`] nodes (batch axis dropped); fold
//! `Constant` nodes into constants; convert every other node through the op table in [`ops`];
//! map the graph outputs; and run [`Graph::verify`]. Node names are kept (empty ones become
//! `{op_type}_{index}`, duplicates get a `_1`, `_2`, ... suffix), as are value names, so a file
//! shears wrote loads back to the graph it came from. An [`Op::Input`] node is named after its
//! value.

mod context;
mod ops;

use crate::OnnxError;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::dimension;
use crate::proto::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, type_proto};
use crate::tensor::type_name;
use context::{Ctx, Input, MAX_EXTENT};
use shears_ir::{Graph, Node, Op, OutletId};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Converts an ONNX model to an IR graph.
pub fn from_model(model: &ModelProto) -> Result<Graph, OnnxError> {
    let g = model
        .graph
        .as_ref()
        .ok_or(OnnxError::EmptyGraph("the file holds no graph"))?;
    if g.node.is_empty() {
        return Err(OnnxError::EmptyGraph("it has no nodes"));
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or(OnnxError::NoOpset)?;

    let mut consts: HashMap<&str, Cow<'_, TensorProto>> = g
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), Cow::Borrowed(t)))
        .collect();
    let inputs: Vec<&ValueInfoProto> = g
        .input
        .iter()
        .filter(|v| !consts.contains_key(v.name.as_str()))
        .collect();
    let names = node_names(g, &inputs);
    check_supported(g, &names)?;
    if inputs.is_empty() {
        return Err(OnnxError::NoInput);
    }

    let mut graph = Graph {
        name: g.name.clone(),
        ..Graph::default()
    };
    let mut values: HashMap<&str, OutletId> = HashMap::new();
    for v in inputs {
        let shape = input_shape(v)?;
        let id = graph.nodes.len();
        graph.nodes.push(Node {
            name: v.name.clone(),
            op: Op::Input { shape },
            inputs: vec![],
            outputs: vec![v.name.clone()],
        });
        graph.inputs.push(id);
        values.insert(&v.name, OutletId::new(id));
    }

    for (node, name) in g.node.iter().zip(&names) {
        if node.op_type == "Constant" {
            let (out, tensor) = constant(node, name)?;
            consts.insert(out, tensor);
            continue;
        }
        let mut resolved = Vec::with_capacity(node.input.len());
        for input in &node.input {
            resolved.push(if input.is_empty() {
                Input::Absent
            } else if let Some(&outlet) = values.get(input.as_str()) {
                Input::Value(outlet)
            } else if let Some(t) = consts.get(input.as_str()) {
                Input::Const(t.as_ref())
            } else {
                return Err(OnnxError::MissingTensor {
                    node: name.clone(),
                    tensor: input.clone(),
                });
            });
        }
        // Checked by `check_supported`.
        let Some(import) = ops::importer(&node.op_type) else {
            continue;
        };
        let ctx = Ctx {
            name,
            node,
            opset,
            inputs: resolved,
            graph: &graph,
        };
        let imported = import(&ctx)?;
        let mut data = Vec::with_capacity(imported.data.len());
        for &i in &imported.data {
            match ctx.input(i) {
                Input::Value(outlet) => data.push(outlet),
                Input::Absent => return Err(ctx.fail(format!("input {i} is missing"))),
                Input::Const(_) => {
                    return Err(ctx.fail(format!(
                        "input {i} ('{}') is a constant tensor, but shears needs a value computed by the graph there",
                        node.input[i]
                    )));
                }
            }
        }
        let Some(output) = node.output.first().filter(|o| !o.is_empty()) else {
            return Err(ctx.fail("the node has no output"));
        };
        let id = graph.nodes.len();
        graph.nodes.push(Node {
            name: name.clone(),
            op: imported.op,
            inputs: data,
            outputs: vec![output.clone()],
        });
        values.insert(output, OutletId::new(id));
    }

    for out in &g.output {
        let outlet = values
            .get(out.name.as_str())
            .ok_or_else(|| OnnxError::GraphValue {
                kind: "output",
                name: out.name.clone(),
                detail: if consts.contains_key(out.name.as_str()) {
                    "is a constant; shears needs an output computed from the input".into()
                } else {
                    "is not computed by any node".into()
                },
            })?;
        graph.outputs.push(*outlet);
    }
    graph.verify().map_err(OnnxError::Invalid)?;
    Ok(graph)
}

/// Unique IR names: graph input names first, then node names (generated where empty).
fn node_names(g: &GraphProto, inputs: &[&ValueInfoProto]) -> Vec<String> {
    let mut taken: HashSet<String> = inputs.iter().map(|v| v.name.clone()).collect();
    g.node
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let base = if n.name.is_empty() {
                format!("{}_{i}", n.op_type)
            } else {
                n.name.clone()
            };
            if n.op_type == "Constant" {
                return base;
            }
            let mut name = base.clone();
            let mut k = 1;
            while !taken.insert(name.clone()) {
                name = format!("{base}_{k}");
                k += 1;
            }
            name
        })
        .collect()
}

/// Fails with every unsupported op type and the nodes using it, in order of appearance.
fn check_supported(g: &GraphProto, names: &[String]) -> Result<(), OnnxError> {
    let mut bad: Vec<(String, Vec<&str>)> = Vec::new();
    for (node, name) in g.node.iter().zip(names) {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if default_domain && (node.op_type == "Constant" || ops::importer(&node.op_type).is_some())
        {
            continue;
        }
        let op = if default_domain {
            node.op_type.clone()
        } else {
            format!("{}::{}", node.domain, node.op_type)
        };
        match bad.iter_mut().find(|(o, _)| *o == op) {
            Some((_, nodes)) => nodes.push(name),
            None => bad.push((op, vec![name])),
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = bad
        .iter()
        .map(|(op, nodes)| {
            let shown: Vec<String> = nodes.iter().take(3).map(|n| format!("'{n}'")).collect();
            let more = if nodes.len() > 3 {
                format!(" and {} more", nodes.len() - 3)
            } else {
                String::new()
            };
            let word = if nodes.len() == 1 { "node" } else { "nodes" };
            format!("{op} ({word} {}{more})", shown.join(", "))
        })
        .collect();
    Err(OnnxError::Unsupported(list.join(", ")))
}

/// The per-sample shape of a graph input: float32, rank >= 2, fixed non-batch dims.
fn input_shape(v: &ValueInfoProto) -> Result<Vec<usize>, OnnxError> {
    let fail = |detail: String| OnnxError::GraphValue {
        kind: "input",
        name: v.name.clone(),
        detail,
    };
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(fail("is not a tensor".into()));
    };
    if t.elem_type != DataType::Float as i32 {
        return Err(fail(format!(
            "has element type {}; shears models take FLOAT inputs",
            type_name(t.elem_type)
        )));
    }
    let Some(shape) = &t.shape else {
        return Err(fail(
            "has no shape; shears needs a fixed size such as [N, C, H, W]".into(),
        ));
    };
    if shape.dim.len() < 2 {
        return Err(fail(format!(
            "has rank {}; shears needs a batch axis and at least one more",
            shape.dim.len()
        )));
    }
    let shape: Vec<usize> = shape.dim[1..]
        .iter()
        .enumerate()
        .map(|(i, d)| match &d.value {
            Some(dimension::Value::DimValue(n)) if (1..=MAX_EXTENT as i64).contains(n) => Ok(*n as usize),
            Some(dimension::Value::DimValue(n)) => Err(fail(format!("dimension {} is {n}; sizes must be from 1 to {MAX_EXTENT}", i + 1))),
            Some(dimension::Value::DimParam(p)) => Err(fail(format!(
                "dimension {} is symbolic ('{p}'); shears needs fixed sizes after the batch axis: re-export with a fixed input size",
                i + 1
            ))),
            None => Err(fail(format!("dimension {} is unknown; shears needs fixed sizes after the batch axis", i + 1))),
        })
        .collect::<Result<_, _>>()?;
    let numel = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d).filter(|n| *n <= 1 << 40));
    if numel.is_none() {
        return Err(fail(format!("shape {shape:?} is too large")));
    }
    Ok(shape)
}

/// The value a `Constant` node defines, as a tensor.
fn constant<'a>(
    node: &'a NodeProto,
    name: &str,
) -> Result<(&'a str, Cow<'a, TensorProto>), OnnxError> {
    let fail = |detail: &str| OnnxError::Node {
        node: name.to_string(),
        op: "Constant".into(),
        detail: detail.into(),
    };
    let out = node
        .output
        .first()
        .filter(|o| !o.is_empty())
        .ok_or_else(|| fail("the node has no output"))?;
    let attr = node
        .attribute
        .first()
        .ok_or_else(|| fail("the node has no value attribute"))?;
    let kind = AttributeType::try_from(attr.r#type).ok();
    let tensor = |data_type: DataType, dims: Vec<i64>| TensorProto {
        data_type: data_type as i32,
        dims,
        ..TensorProto::default()
    };
    let t = match attr.name.as_str() {
        "value" => Cow::Borrowed(
            attr.t
                .as_ref()
                .ok_or_else(|| fail("attribute 'value' must be a tensor"))?,
        ),
        "value_float" if attr.f.is_some() || kind == Some(AttributeType::Float) => {
            Cow::Owned(TensorProto {
                float_data: vec![attr.f.unwrap_or(0.0)],
                ..tensor(DataType::Float, vec![])
            })
        }
        "value_floats" => Cow::Owned(TensorProto {
            float_data: attr.floats.clone(),
            ..tensor(DataType::Float, vec![attr.floats.len() as i64])
        }),
        "value_int" if attr.i.is_some() || kind == Some(AttributeType::Int) => {
            Cow::Owned(TensorProto {
                int64_data: vec![attr.i.unwrap_or(0)],
                ..tensor(DataType::Int64, vec![])
            })
        }
        "value_ints" => Cow::Owned(TensorProto {
            int64_data: attr.ints.clone(),
            ..tensor(DataType::Int64, vec![attr.ints.len() as i64])
        }),
        _ => {
            return Err(fail(&format!(
                "value attribute '{}' is not supported (shears reads value, value_float(s) and value_int(s))",
                attr.name
            )));
        }
    };
    Ok((out, t))
}
