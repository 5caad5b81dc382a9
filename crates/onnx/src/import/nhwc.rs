//! Keras's `Flatten` as tf2onnx writes it: `Transpose (0, 2, 3, 1)` of an `[N, C, H, W]` map
//! back to channels-last, `Reshape` to `[N, H * W * C]`, then a `MatMul` (or `Gemm`) with
//! constant weights, which reads the features in `(h, w, c)` order. It is imported as a
//! `Flatten` and a linear layer whose weight rows are reordered to `(c, h, w)`: the same function,
//! with each channel's features side by side, as pruning needs them. The channels-last values in
//! between never become IR values. Other channels-last stretches (ConvNeXt's) are imported by
//! `channels_last`.

use super::channels_last::Step;
use crate::proto::{NodeProto, TensorProto};
use crate::tensor;
use shears_ir::{Array, Graph, Op, OutletId};
use std::borrow::Cow;
use std::collections::HashMap;

/// A channels-last flatten in progress, keyed by the ONNX value it has reached.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending<'g> {
    /// The `[C, H, W]` map.
    pub source: OutletId,
    pub shape: [usize; 3],
    /// The reshape to `[N, H * W * C]`, once seen: the `Flatten` takes its name.
    pub flattened: Option<&'g str>,
}

/// The permutation that makes a channels-last transpose: `perm` of the attribute.
pub(crate) const TO_CHANNELS_LAST: [i64; 4] = [0, 2, 3, 1];

/// Whether a reshape target (batch first; 0 keeps an axis, -1 is inferred) flattens `[C, H, W]`.
pub(crate) fn flattens(target: &[i64], [c, h, w]: [usize; 3]) -> bool {
    let features = (c * h * w) as i64;
    match *target {
        [n, f] => (f == features && n >= -1) || (f == -1 && n >= 0),
        _ => false,
    }
}

/// Feeds a node to the matcher. `Ok(true)`: the node was consumed (a transpose or reshape of
/// the pattern). `Ok(false)`: not consumed; for a `MatMul` or `Gemm` reading a finished pattern,
/// its input now names a `Flatten` of the map and its weight has channels-first rows, so it
/// imports as usual.
pub(crate) fn step<'g>(
    graph: &mut Graph,
    node: &'g NodeProto,
    consts: &mut HashMap<&'g str, Cow<'g, TensorProto>>,
    values: &mut HashMap<&'g str, OutletId>,
    pending: &mut HashMap<&'g str, Pending<'g>>,
) -> Result<bool, String> {
    let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
        return Ok(false);
    };
    let const_ints = |k: usize| -> Option<Vec<i64>> {
        tensor::to_ints(consts.get(node.input.get(k)?.as_str())?).ok()
    };
    let reads_channels_last = node.input.iter().any(|i| {
        pending
            .get(i.as_str())
            .is_some_and(|p| p.flattened.is_none())
    });
    if reads_channels_last && node.op_type != "Reshape" {
        return channels_last_step(graph, node, consts, values, pending).map(|()| true);
    }
    match (node.op_type.as_str(), pending.get(input.as_str()).copied()) {
        ("Transpose", None) => {
            let perm = node.attribute.iter().find(|a| a.name == "perm");
            let Some(&source) = values.get(input.as_str()) else {
                return Ok(false);
            };
            if perm.is_some_and(|a| a.ints == [0, 3, 1, 2])
                && matches!(graph.nodes[source.node].op, Op::Input { .. })
            {
                return Err(format!(
                    "the graph input '{input}' is channels-last (NHWC, as Keras has it) and shears takes channels-first inputs: convert the model with tf2onnx's `--inputs-as-nchw {input}` (`inputs_as_nchw=[\"{input}\"]` in Python)"
                ));
            }
            if perm.is_none_or(|a| a.ints != TO_CHANNELS_LAST) {
                return Ok(false);
            }
            let shapes = graph.infer_shapes().map_err(|e| e.to_string())?;
            let Ok(shape) = <[usize; 3]>::try_from(shapes[source.node][source.slot].as_slice())
            else {
                return Ok(false);
            };
            let flattened = None;
            pending.insert(
                output,
                Pending {
                    source,
                    shape,
                    flattened,
                },
            );
            Ok(true)
        }
        ("Reshape", Some(p)) if p.flattened.is_none() => {
            if !const_ints(1).is_some_and(|t| flattens(&t, p.shape)) {
                return Err(format!(
                    "a channels-last transpose of a {:?} map must be flattened to [N, {}] (Keras's Flatten)",
                    p.shape,
                    p.shape.iter().product::<usize>()
                ));
            }
            let name = if node.name.is_empty() {
                output
            } else {
                &node.name
            };
            pending.insert(
                output,
                Pending {
                    flattened: Some(name),
                    ..p
                },
            );
            Ok(true)
        }
        (
            "MatMul" | "Gemm",
            Some(Pending {
                source,
                shape,
                flattened: Some(reshape),
            }),
        ) => {
            let transposed = node.op_type == "Gemm"
                && node
                    .attribute
                    .iter()
                    .any(|a| a.name == "transB" && a.i.unwrap_or(0) != 0);
            let weight_name = node.input.get(1).map_or("", String::as_str);
            let Some(weight) = consts.get(weight_name) else {
                return Err(
                    "the dense layer after a channels-last flatten needs constant weights".into(),
                );
            };
            let weight = channels_first_weight(weight, transposed as usize, shape)?;
            consts.insert(weight_name, Cow::Owned(weight));
            let flat = super::push(graph, reshape, Op::Flatten { axis: 1 }, vec![source], input);
            values.insert(input.as_str(), flat);
            Ok(false)
        }
        (_, Some(_)) => Err(format!(
            "input '{input}' is a channels-last copy of a feature map, which shears imports only as Keras's Flatten (Transpose (0, 2, 3, 1), Reshape to [N, -1], then MatMul or Gemm)"
        )),
        _ => Ok(false),
    }
}

/// Imports a node of a channels-last stretch (see `channels_last`).
fn channels_last_step<'g>(
    graph: &mut Graph,
    node: &'g NodeProto,
    consts: &HashMap<&'g str, Cow<'g, TensorProto>>,
    values: &mut HashMap<&'g str, OutletId>,
    pending: &mut HashMap<&'g str, Pending<'g>>,
) -> Result<(), String> {
    let output = node.output.first().map_or("", String::as_str);
    let name = if node.name.is_empty() {
        output
    } else {
        node.name.as_str()
    };
    let mut made = 0;
    let mut constant = |value: Array| {
        made += 1;
        let id = format!("{name}.constant{made}");
        super::push(graph, &id, Op::Constant { value }, vec![], &id)
    };
    match super::channels_last::step(node, consts, pending, &mut constant)? {
        Step::Back(source) => {
            values.insert(output, source);
        }
        Step::Op(op, inputs, shape) => {
            let source = super::push(graph, name, *op, inputs, output);
            let flattened = None;
            pending.insert(
                output,
                Pending {
                    source,
                    shape,
                    flattened,
                },
            );
        }
    }
    Ok(())
}

/// `weight` with its feature axis (`axis` 0 for a MatMul's `[in, out]`, 1 for a transposed
/// Gemm's `[out, in]`) reordered from `(h, w, c)` to `(c, h, w)`.
pub(crate) fn channels_first_weight(
    weight: &TensorProto,
    axis: usize,
    [c, h, w]: [usize; 3],
) -> Result<TensorProto, String> {
    let array = tensor::to_array(weight)?;
    let features = c * h * w;
    let [rows, cols] = array.shape[..] else {
        return Err(format!("the weight {:?} must be a matrix", array.shape));
    };
    if [rows, cols][axis] != features {
        return Err(format!(
            "the weight {:?} does not read the {features} features of the flattened [{c}, {h}, {w}] map",
            array.shape
        ));
    }
    // Feature (ci, hi, wi) in channels-first order was feature (hi, wi, ci) in channels-last.
    let source = |f: usize| {
        let (ci, rest) = (f / (h * w), f % (h * w));
        rest * c + ci
    };
    let data: Vec<f32> = (0..rows * cols)
        .map(|i| {
            let (r, k) = (i / cols, i % cols);
            let (r, k) = if axis == 0 {
                (source(r), k)
            } else {
                (r, source(k))
            };
            array.data[r * cols + k]
        })
        .collect();
    Ok(tensor::float_tensor(&weight.name, &array.shape, &data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_channels_first_layout() {
        // [C, H, W] = [2, 1, 2]: channels-last features are (w0 c0, w0 c1, w1 c0, w1 c1).
        let w = tensor::float_tensor("w", &[4, 1], &[10.0, 11.0, 20.0, 21.0]);
        let p = channels_first_weight(&w, 0, [2, 1, 2]).unwrap();
        // Channels first: (c0 w0, c0 w1, c1 w0, c1 w1).
        assert_eq!(tensor::to_array(&p).unwrap().data, [10.0, 20.0, 11.0, 21.0]);
        let t = tensor::float_tensor("w", &[1, 4], &[10.0, 11.0, 20.0, 21.0]);
        let p = channels_first_weight(&t, 1, [2, 1, 2]).unwrap();
        assert_eq!(tensor::to_array(&p).unwrap().data, [10.0, 20.0, 11.0, 21.0]);
        assert!(flattens(&[0, 4], [2, 1, 2]) && flattens(&[-1, 4], [2, 1, 2]));
        assert!(flattens(&[0, -1], [2, 1, 2]) && !flattens(&[0, 2, 2], [2, 1, 2]));
    }
}
