//! Import: an ONNX `ModelProto` to an IR [`Graph`].
//!
//! Steps: check that every op is supported (one error lists all that are not) and that the graph
//! is well formed as ONNX Runtime requires it ([`wellformed`]: one definition per value, nodes
//! within their op's schema, stored tensors within the limits); turn the graph inputs that are
//! not initializers into [`Op::Input`] nodes (batch axis dropped); fold `Constant` nodes into
//! constants; convert every other node through the op table in [`ops`], checking that each
//! value it makes is within the limits per sample; map the graph outputs; and run
//! [`Graph::verify`] and [`Graph::check_finite`]. Node names are kept (empty ones become
//! `{op_type}_{index}`, duplicates get a `_1`, `_2`, ... suffix), as are value names, so a file
//! shears wrote loads back to the graph it came from. An [`Op::Input`] node is named after its
//! value.

mod channels_last;
mod context;
mod fold;
mod layout;
mod nhwc;
mod ops;
mod resize;
mod schema;
mod shuffle;
mod strided;
mod wellformed;

use crate::OnnxError;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::dimension;
use crate::proto::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, type_proto};
use crate::tensor::{self, Fault, type_name};
use context::{Ctx, Input, MAX_EXTENT};
use fold::{FoldInput, fold};
use ops::{Operand, takes_constant_operands};
use shears_ir::{Graph, Node, Op, OutletId};
use shuffle::Pending;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// How a model is imported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The per-sample size (`[C, H, W]`, no batch axis) of the first graph input, for models
    /// exported with symbolic sizes; a fixed size in the file must agree with it.
    pub input_shape: Option<Vec<usize>>,
}

/// Converts an ONNX model to an IR graph.
pub fn from_model(model: &ModelProto) -> Result<Graph, OnnxError> {
    from_model_with(model, &ImportOptions::default())
}

/// Converts an ONNX model to an IR graph with `options`.
pub fn from_model_with(model: &ModelProto, options: &ImportOptions) -> Result<Graph, OnnxError> {
    let g = model
        .graph
        .as_ref()
        .ok_or(OnnxError::EmptyGraph("the file holds no graph"))?;
    if g.node.is_empty() {
        return Err(OnnxError::EmptyGraph("it has no nodes"));
    }
    let rewritten = strided::rewrite(g);
    let g = rewritten.as_ref().unwrap_or(g);
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
    wellformed::check(g, &names, opset)?;
    if inputs.is_empty() {
        return Err(OnnxError::NoInput);
    }

    let mut graph = Graph {
        name: g.name.clone(),
        onnx_opset: Some(opset),
        ..Graph::default()
    };
    let mut values: HashMap<&str, OutletId> = HashMap::new();
    for (i, v) in inputs.into_iter().enumerate() {
        let given = options.input_shape.as_deref().filter(|_| i == 0);
        let shape = input_shape(v, given)?;
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

    let mut pending: HashMap<&str, Pending> = HashMap::new();
    let mut channels_last: HashMap<&str, nhwc::Pending<'_>> = HashMap::new();
    // One `Op::Constant` node per constant tensor used as a data operand.
    let mut constant_nodes: HashMap<&str, OutletId> = HashMap::new();
    let mut budget = Budget::default();
    for (node, name) in g.node.iter().zip(&names) {
        if node.op_type == "Constant" {
            let (out, tensor) = constant(node, name)?;
            consts.insert(out, tensor);
            continue;
        }
        let fail = |detail: String| OnnxError::Node {
            node: name.clone(),
            op: node.op_type.clone(),
            detail,
        };
        if nhwc::step(
            &mut graph,
            node,
            &mut consts,
            &mut values,
            &mut channels_last,
        )
        .map_err(&fail)?
        {
            continue;
        }
        if let Some(done) =
            shuffle_step(&graph, node, &consts, &values, &mut pending).map_err(&fail)?
        {
            if let Some((op, source)) = done {
                let output = node.output.first().map_or("", String::as_str);
                values.insert(output, push(&mut graph, name, op, vec![source], output));
            }
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
            } else if pending.contains_key(input.as_str()) {
                return Err(fail(format!(
                    "input '{input}' is a 5-axis reshape, which shears imports only as part of a channel shuffle (Reshape, Transpose perm (0, 2, 1, 3, 4), Reshape back)"
                )));
            } else {
                return Err(OnnxError::MissingTensor {
                    node: name.clone(),
                    tensor: input.clone(),
                });
            });
        }
        budget.spend(name, node, resolved.iter().map(Input::elements))?;
        if let Some(outputs) = fold_node(&graph, node, name, opset, &resolved)? {
            budget.spend(name, node, outputs.iter().map(tensor::elements_of))?;
            for (out, t) in node.output.iter().zip(outputs) {
                consts.insert(out.as_str(), Cow::Owned(t));
            }
            continue;
        }
        let Some(import) = ops::importer(&node.op_type) else {
            return Err(fail(
                "shears imports this op only when its inputs are constants, and here they are computed by the graph".into(),
            ));
        };
        let ctx = Ctx {
            name,
            node,
            opset,
            inputs: resolved.clone(),
            graph: &graph,
        };
        let imported = import(&ctx)?;
        let inputs = resolved;
        let first_part = graph.nodes.len();
        let mut part_outlets: Vec<OutletId> = Vec::with_capacity(imported.parts.len());
        for (k, part) in imported.parts.into_iter().enumerate() {
            let rank = data_rank(&graph, &inputs, &part.data);
            let mut data = Vec::with_capacity(part.data.len());
            for operand in &part.data {
                data.push(match *operand {
                    Operand::Part(j) => part_outlets[j],
                    Operand::Input(i) => match inputs.get(i).copied().unwrap_or(Input::Absent) {
                        Input::Value(outlet) => outlet,
                        Input::Absent => return Err(fail(format!("input {i} is missing"))),
                        Input::Const(t) if takes_constant_operands(&part.op) => {
                            let tensor_name = node.input[i].as_str();
                            match constant_nodes.get(tensor_name) {
                                Some(&outlet) => outlet,
                                None => {
                                    let value = constant_operand(t, rank).map_err(|d| {
                                        fail(format!("constant input '{tensor_name}': {d}"))
                                    })?;
                                    tensor::check_finite(tensor_name, name, &value.data)?;
                                    let op = Op::Constant { value };
                                    let outlet =
                                        push(&mut graph, tensor_name, op, vec![], tensor_name);
                                    constant_nodes.insert(tensor_name, outlet);
                                    outlet
                                }
                            }
                        }
                        Input::Const(_) => {
                            return Err(fail(format!(
                                "input {i} ('{}') is a constant tensor, but shears needs a value computed by the graph there",
                                node.input[i]
                            )));
                        }
                    },
                });
            }
            let output = match part.output {
                Some(o) => node
                    .output
                    .get(o)
                    .filter(|o| !o.is_empty())
                    .cloned()
                    .ok_or_else(|| fail(format!("the node has no output {o}")))?,
                None => format!("{name}:{k}"),
            };
            let part_name = if part.output == Some(0) {
                name.clone()
            } else {
                format!("{name}:{k}")
            };
            let outlet = push(&mut graph, &part_name, part.op, data, &output);
            part_outlets.push(outlet);
            if let Some(o) = part.output {
                values.insert(node.output[o].as_str(), outlet);
            }
        }
        check_sizes(&graph, first_part)?;
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
    graph.check_finite().map_err(OnnxError::Invalid)?;
    crate::export::check_writable(&graph).map_err(|e| match e {
        OnnxError::Export { detail, .. } => OnnxError::Unwritable { detail },
        e => e,
    })?;
    Ok(graph)
}

/// Most elements of constants that import may copy in all (weights read into ops, inputs and
/// outputs of folds): twice the limit for one tensor, so that a file whose nodes read
/// one large tensor over and over is refused instead of exhausting memory.
const MAX_COPIED_ELEMENTS: usize = 2 * shears_ir::limits::MAX_TENSOR_ELEMENTS;

/// The elements of constants copied so far.
#[derive(Default)]
struct Budget {
    spent: usize,
}

impl Budget {
    /// Counts `elements` more for `node` (IR name `name`); fails past [`MAX_COPIED_ELEMENTS`].
    fn spend(
        &mut self,
        name: &str,
        node: &NodeProto,
        elements: impl Iterator<Item = usize>,
    ) -> Result<(), OnnxError> {
        self.spent = elements.fold(self.spent, usize::saturating_add);
        if self.spent <= MAX_COPIED_ELEMENTS {
            return Ok(());
        }
        Err(OnnxError::Node {
            node: name.to_string(),
            op: node.op_type.clone(),
            detail: format!(
                "the constants read up to this node hold {} elements in all, more than the \
                 limit of {MAX_COPIED_ELEMENTS}: the file reads large tensors from many nodes",
                self.spent
            ),
        })
    }
}

/// Fails when a value computed by the nodes from `first` on holds more than the limit per
/// sample, naming the node: checked as each node is imported, so that no later step computes
/// with an absurd size.
fn check_sizes(graph: &Graph, first: usize) -> Result<(), OnnxError> {
    let shapes = graph.infer_shapes().map_err(OnnxError::Invalid)?;
    for (node, shapes) in graph.nodes.iter().zip(&shapes).skip(first) {
        for shape in shapes {
            tensor::elements("its output for one sample", shape).map_err(|source| {
                OnnxError::TooLarge {
                    kind: "node",
                    name: node.name.clone(),
                    source,
                }
            })?;
        }
    }
    Ok(())
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
        let known = node.op_type == "Constant"
            || ops::importer(&node.op_type).is_some()
            || fold::foldable(&node.op_type);
        if default_domain && known {
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

/// The per-sample shape of a graph input: float32, rank >= 2, non-batch dims fixed in the file
/// or `given` (for symbolic ones; fixed ones must agree).
fn input_shape(v: &ValueInfoProto, given: Option<&[usize]>) -> Result<Vec<usize>, OnnxError> {
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
    if let Some(dimension::Value::DimValue(n)) = &shape.dim[0].value
        && *n < 1
    {
        return Err(fail(format!(
            "the batch dimension is {n}; it must be positive, or symbolic"
        )));
    }
    let dims = &shape.dim[1..];
    if let Some(given) = given
        && given.len() != dims.len()
    {
        return Err(fail(format!(
            "has {} dimensions after the batch axis, but the given input shape {given:?} has {}",
            dims.len(),
            given.len()
        )));
    }
    let shape: Vec<usize> = dims
        .iter()
        .enumerate()
        .map(|(i, d)| sample_dim(i, d.value.as_ref(), given.map(|g| g[i])).map_err(&fail))
        .collect::<Result<_, _>>()?;
    tensor::elements("one sample", &shape).map_err(|source| OnnxError::TooLarge {
        kind: "graph input",
        name: v.name.clone(),
        source,
    })?;
    Ok(shape)
}

/// Dimension `i` (after the batch axis) of a graph input: fixed in the file (agreeing with
/// `given`, if any) or symbolic and `given`.
fn sample_dim(
    i: usize,
    value: Option<&dimension::Value>,
    given: Option<usize>,
) -> Result<usize, String> {
    let axis = i + 1;
    match (value, given) {
        (Some(dimension::Value::DimValue(n)), given) if (1..=MAX_EXTENT as i64).contains(n) => {
            match given {
                Some(g) if g as i64 != *n => Err(format!(
                    "dimension {axis} is fixed at {n} in the file, not {g} as given: give the model's own input shape"
                )),
                _ => Ok(*n as usize),
            }
        }
        (Some(dimension::Value::DimValue(n)), _) => Err(format!(
            "dimension {axis} is {n}; sizes must be from 1 to {MAX_EXTENT}"
        )),
        (_, Some(g)) if (1..=MAX_EXTENT).contains(&g) => Ok(g),
        (_, Some(g)) => Err(format!(
            "the given size {g} of dimension {axis} must be from 1 to {MAX_EXTENT}"
        )),
        (Some(dimension::Value::DimParam(p)), None) => Err(format!(
            "dimension {axis} is symbolic ('{p}'): give the input size to import it for (`ImportOptions::input_shape`)"
        )),
        (None, None) => Err(format!(
            "dimension {axis} is unknown: give the input size to import it for (`ImportOptions::input_shape`)"
        )),
    }
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
    let [attr] = node.attribute.as_slice() else {
        return Err(fail(&format!(
            "a Constant has exactly one value attribute (value, value_float, value_ints, ...); \
             this one has {}",
            node.attribute.len()
        )));
    };
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

/// Appends a node with one output value and returns its outlet.
fn push(graph: &mut Graph, name: &str, op: Op, inputs: Vec<OutletId>, output: &str) -> OutletId {
    graph.nodes.push(Node {
        name: name.to_string(),
        op,
        inputs,
        outputs: vec![output.to_string()],
    });
    OutletId::new(graph.nodes.len() - 1)
}

/// The node's outputs when it only computes constants (see [`fold`]); errors name the node
/// (IR name `name`).
fn fold_node(
    graph: &Graph,
    node: &NodeProto,
    name: &str,
    opset: i64,
    inputs: &[Input],
) -> Result<Option<Vec<TensorProto>>, OnnxError> {
    let computes_on_data = inputs.iter().any(|i| matches!(i, Input::Value(_)));
    if !fold::foldable(&node.op_type) || computes_on_data && node.op_type != "Shape" {
        return Ok(None);
    }
    let shapes = if computes_on_data {
        graph.infer_shapes().map_err(OnnxError::Invalid)?
    } else {
        Vec::new()
    };
    let inputs: Vec<FoldInput> = inputs
        .iter()
        .map(|i| match *i {
            Input::Absent => FoldInput::Absent,
            Input::Const(t) => FoldInput::Const(t),
            Input::Value(o) => FoldInput::Value(shapes[o.node][o.slot].clone()),
        })
        .collect();
    fold(node, opset, &inputs).map_err(|fault| match fault {
        Fault::Detail(detail) => OnnxError::Node {
            node: name.to_string(),
            op: node.op_type.clone(),
            detail,
        },
        Fault::TooLarge(source) => OnnxError::TooLarge {
            kind: "node",
            name: name.to_string(),
            source,
        },
    })
}

/// The rank (with the batch axis) of the data a part computes on: that of its widest value
/// operand.
fn data_rank(graph: &Graph, inputs: &[Input], data: &[Operand]) -> usize {
    let has_const = data
        .iter()
        .any(|o| matches!(o, Operand::Input(i) if matches!(inputs.get(*i), Some(Input::Const(_)))));
    if !has_const {
        return 0;
    }
    let Ok(shapes) = graph.infer_shapes() else {
        return 0;
    };
    data.iter()
        .filter_map(|o| match o {
            Operand::Input(i) => match inputs.get(*i) {
                Some(Input::Value(v)) => Some(shapes[v.node][v.slot].len() + 1),
                _ => None,
            },
            Operand::Part(_) => None,
        })
        .max()
        .unwrap_or(0)
}

/// A constant data operand as the value of an [`Op::Constant`], of per-sample shape: one of the
/// data's full rank must be 1 along the batch axis, which is dropped; a lower rank is aligned to
/// the right by broadcasting, as ONNX aligns it.
fn constant_operand(t: &TensorProto, rank: usize) -> Result<shears_ir::Array, String> {
    let mut value = crate::tensor::to_array(t)?;
    if rank > 0 && value.shape.len() == rank {
        if value.shape[0] != 1 {
            return Err(format!(
                "its shape {:?} varies along the batch axis; shears needs one value for every sample",
                value.shape
            ));
        }
        value.shape.remove(0);
    } else if rank > 0 && value.shape.len() > rank {
        return Err(format!(
            "its shape {:?} has more axes than the data",
            value.shape
        ));
    }
    Ok(value)
}

/// Feeds a `Reshape` or `Transpose` to the channel-shuffle matcher. `Ok(None)`: not part of a
/// shuffle; `Ok(Some(None))`: consumed, pending; `Ok(Some(Some((op, source))))`: the shuffle is
/// complete.
#[allow(clippy::type_complexity)]
fn shuffle_step<'g>(
    graph: &Graph,
    node: &'g NodeProto,
    consts: &HashMap<&str, Cow<'_, TensorProto>>,
    values: &HashMap<&str, OutletId>,
    pending: &mut HashMap<&'g str, Pending>,
) -> Result<Option<Option<(Op, OutletId)>>, String> {
    let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
        return Ok(None);
    };
    let target = || -> Option<Vec<i64>> {
        let t = consts.get(node.input.get(1)?.as_str())?;
        crate::tensor::to_ints(t).ok()
    };
    match node.op_type.as_str() {
        "Reshape" => {
            if let Some(p) = pending.get(input.as_str()).copied() {
                if p.transposed && target().is_some_and(|t| shuffle::restores(&t, p.shape)) {
                    return Ok(Some(Some((shuffle::permutation(&p), p.source))));
                }
                return Err("a reshape after a channel shuffle's transpose must give back the [N, C, H, W] map".into());
            }
            let Some(&source) = values.get(input.as_str()) else {
                return Ok(None);
            };
            let Some(target) = target().filter(|t| t.len() == 5) else {
                return Ok(None);
            };
            let shapes = graph.infer_shapes().map_err(|e| e.to_string())?;
            let Ok(shape) = <[usize; 3]>::try_from(shapes[source.node][source.slot].as_slice())
            else {
                return Ok(None);
            };
            let groups = shuffle::grouping(&target, shape).ok_or_else(|| {
                format!("reshapes {shape:?} to {target:?}; shears imports a 5-axis reshape only as [N, g, C/g, H, W] in a channel shuffle")
            })?;
            pending.insert(
                output,
                Pending {
                    source,
                    shape,
                    groups,
                    transposed: false,
                },
            );
            Ok(Some(None))
        }
        "Transpose" => {
            let Some(p) = pending.get(input.as_str()).copied() else {
                return Ok(None);
            };
            let perm = node
                .attribute
                .iter()
                .find(|a| a.name == "perm")
                .map(|a| a.ints.clone());
            if p.transposed || perm.as_deref() != Some(&[0, 2, 1, 3, 4]) {
                return Err(format!(
                    "transposes a 5-axis reshape with perm {perm:?}; a channel shuffle swaps axes 1 and 2 (perm [0, 2, 1, 3, 4])"
                ));
            }
            pending.insert(
                output,
                Pending {
                    transposed: true,
                    ..p
                },
            );
            Ok(Some(None))
        }
        _ => Ok(None),
    }
}
