//! Checks of the graph as a whole, made before anything is imported, that ONNX Runtime also
//! makes before it runs a model: every value is defined once (by a graph input, an initializer
//! or one node output), each graph output is listed once, every node fits its op's schema
//! ([`schema`]), and every stored tensor has a usable shape within the limits and as many
//! elements as its shape says.

use super::schema;
use crate::OnnxError;
use crate::proto::{GraphProto, NodeProto, TensorProto};
use crate::tensor;
use std::collections::{HashMap, HashSet};

/// Checks `g`, whose nodes have the IR names `names`, in `opset`.
pub(crate) fn check(g: &GraphProto, names: &[String], opset: i64) -> Result<(), OnnxError> {
    for (node, name) in g.node.iter().zip(names) {
        schema::check(node, name, opset)?;
    }
    unique_definitions(g, names)?;
    unique_outputs(g)?;
    stored_tensors(g, names)
}

/// Every value name is defined once. A graph input may also be an initializer (its default
/// value), as older exporters write them.
fn unique_definitions(g: &GraphProto, names: &[String]) -> Result<(), OnnxError> {
    let mut defined: HashMap<&str, String> = HashMap::new();
    for t in g.initializer.iter().filter(|t| !t.name.is_empty()) {
        define(&mut defined, &t.name, "an initializer".into())?;
    }
    let initializers: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs = HashSet::new();
    for v in &g.input {
        if !inputs.insert(v.name.as_str()) {
            return Err(OnnxError::DuplicateValue {
                name: v.name.clone(),
                first: "a graph input".into(),
                second: "another graph input".into(),
            });
        }
        if !initializers.contains(v.name.as_str()) {
            define(&mut defined, &v.name, "a graph input".into())?;
        }
    }
    for (node, name) in g.node.iter().zip(names) {
        for out in node.output.iter().filter(|o| !o.is_empty()) {
            define(&mut defined, out, describe(node, name))?;
        }
    }
    Ok(())
}

/// Records that `by` defines `value`; fails if something already does.
fn define<'g>(
    defined: &mut HashMap<&'g str, String>,
    value: &'g str,
    by: String,
) -> Result<(), OnnxError> {
    if let Some(first) = defined.get(value) {
        return Err(OnnxError::DuplicateValue {
            name: value.to_string(),
            first: first.clone(),
            second: by,
        });
    }
    defined.insert(value, by);
    Ok(())
}

/// "node 'conv1' (Conv)".
fn describe(node: &NodeProto, name: &str) -> String {
    format!("node '{name}' ({})", node.op_type)
}

/// Each graph output is listed once.
fn unique_outputs(g: &GraphProto) -> Result<(), OnnxError> {
    let mut seen = HashSet::new();
    for out in &g.output {
        if !seen.insert(out.name.as_str()) {
            return Err(OnnxError::GraphValue {
                kind: "output",
                name: out.name.clone(),
                detail: "is listed twice; list each graph output once".into(),
            });
        }
    }
    Ok(())
}

/// Initializers and the tensors of `Constant` and `ConstantOfShape` nodes: shapes within the
/// limits, data as long as the shape says (see [`tensor::validate`]), whether or not a node
/// reads them.
fn stored_tensors(g: &GraphProto, names: &[String]) -> Result<(), OnnxError> {
    for t in &g.initializer {
        tensor::validate(t).map_err(|f| f.about_tensor(&t.name))?;
    }
    for (node, name) in g.node.iter().zip(names) {
        if !matches!(node.op_type.as_str(), "Constant" | "ConstantOfShape") {
            continue;
        }
        let value = node.attribute.iter().filter(|a| a.name == "value");
        for t in value.filter_map(|a| a.t.as_ref()) {
            tensor::validate(t).map_err(|f| f.about_tensor(&tensor_name(t, node, name)))?;
        }
    }
    Ok(())
}

/// A `Constant`'s tensor is named after the node's output; another attribute tensor after the
/// node.
fn tensor_name(t: &TensorProto, node: &NodeProto, name: &str) -> String {
    match (node.op_type.as_str(), node.output.first()) {
        ("Constant", Some(out)) if !out.is_empty() => out.clone(),
        _ if !t.name.is_empty() => t.name.clone(),
        _ => format!("{name}.value"),
    }
}
