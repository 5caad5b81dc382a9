//! Channels-last stretches of a channels-first network, as PyTorch's ConvNeXt writes them:
//! `Transpose (0, 2, 3, 1)` of an `[N, C, H, W]` map, then per-position ops on `[N, H, W, C]`
//! (`LayerNormalization` over the last axis, `MatMul` by a `[C, D]` weight, bias `Add`s,
//! `Gelu` / `Erf` and the arithmetic of GELU written out, scale `Mul`s), then
//! `Transpose (0, 3, 1, 2)` back. Each op becomes its channels-first twin on the map itself: a
//! layer norm over channels, a 1x1 conv, the same element-wise op with a `[D, 1, 1]` constant;
//! the channels-last values never become IR values.

use super::nhwc::Pending;
use crate::proto::{NodeProto, TensorProto};
use crate::tensor;
use shears_ir::{Array, Conv2d, LayerNorm, Op, OutletId};
use std::borrow::Cow;
use std::collections::HashMap;

/// The permutation back to channels-first.
const TO_CHANNELS_FIRST: [i64; 4] = [0, 3, 1, 2];

/// What a node reading a channels-last value becomes.
pub(crate) enum Step {
    /// The node's output is the channels-first value `OutletId` (the transpose back).
    Back(OutletId),
    /// The node's output is channels-last again: the channels-first op to push, reading these
    /// values, and the map's new `[C, H, W]`.
    Op(Box<Op>, Vec<OutletId>, [usize; 3]),
}

/// The channels-first form of `node`, which reads at least one channels-last value (its
/// `pending` entries); `Err` for a node with no such form.
pub(crate) fn step<'g>(
    node: &'g NodeProto,
    consts: &HashMap<&'g str, Cow<'g, TensorProto>>,
    pending: &HashMap<&'g str, Pending<'g>>,
    constant: &mut dyn FnMut(Array) -> OutletId,
) -> Result<Step, String> {
    let first = pending
        .get(node.input[0].as_str())
        .copied()
        .filter(|p| p.flattened.is_none());
    let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
    let array = |k: usize| -> Option<Result<Array, String>> {
        consts
            .get(node.input.get(k)?.as_str())
            .map(|t| tensor::to_array(t))
    };
    match (node.op_type.as_str(), first) {
        ("Transpose", Some(p)) if attr("perm").is_some_and(|a| a.ints == TO_CHANNELS_FIRST) => {
            Ok(Step::Back(p.source))
        }
        ("LayerNormalization", Some(p)) => {
            let axis = attr("axis").and_then(|a| a.i).unwrap_or(-1);
            if axis != -1 && axis != 3 {
                return Err(format!(
                    "a layer norm over axes from {axis} of a channels-last map normalises more than the channels"
                ));
            }
            let scale = array(1).ok_or("the scale must be a constant")??;
            let bias = match array(2) {
                Some(b) => b?,
                None => Array::zeros(scale.shape.clone()),
            };
            let eps = attr("epsilon").and_then(|a| a.f).unwrap_or(1e-5);
            Ok(Step::Op(
                Box::new(Op::LayerNorm(LayerNorm { scale, bias, eps })),
                vec![p.source],
                p.shape,
            ))
        }
        ("MatMul", Some(p)) => {
            let weight =
                array(1).ok_or("the weight of a per-position MatMul must be a constant")??;
            let [c, d] = weight.shape[..] else {
                return Err(format!(
                    "the weight {:?} must be a matrix [C, D]",
                    weight.shape
                ));
            };
            // [C, D] read as D filters of C channels: [D, C, 1, 1].
            let filters = super::ops::transpose(&weight).data;
            let conv = Conv2d {
                weight: Array::new(vec![d, c, 1, 1], filters),
                bias: None,
                stride: [1, 1],
                padding: [0; 4],
                dilation: [1, 1],
                groups: 1,
            };
            Ok(Step::Op(
                Box::new(Op::Conv2d(conv)),
                vec![p.source],
                [d, p.shape[1], p.shape[2]],
            ))
        }
        ("Gelu" | "Erf" | "Relu" | "Sigmoid" | "Tanh", Some(p)) => {
            let op = match node.op_type.as_str() {
                "Gelu" => Op::Gelu {
                    tanh: attr("approximate").and_then(|a| a.s.as_deref()) == Some(b"tanh"),
                },
                "Erf" => Op::Erf,
                "Relu" => Op::Relu,
                "Sigmoid" => Op::Sigmoid,
                _ => Op::Tanh,
            };
            Ok(Step::Op(Box::new(op), vec![p.source], p.shape))
        }
        ("Add" | "Sub" | "Mul" | "Div", _) => binary(node, consts, pending, constant),
        _ => Err(format!(
            "input '{}' is a channels-last copy of a feature map; shears imports a channels-last stretch made of LayerNormalization, MatMul, Add, Sub, Mul, Div, Gelu, Erf, Relu, Sigmoid and Tanh, closed by Transpose (0, 3, 1, 2)",
            node.input[0]
        )),
    }
}

/// An element-wise binary op with a channels-last operand: the other is channels-last too or
/// a constant of one value or of one value per channel (`[D]` along the last axis).
fn binary<'g>(
    node: &'g NodeProto,
    consts: &HashMap<&'g str, Cow<'g, TensorProto>>,
    pending: &HashMap<&'g str, Pending<'g>>,
    constant: &mut dyn FnMut(Array) -> OutletId,
) -> Result<Step, String> {
    let op = match node.op_type.as_str() {
        "Add" => Op::Add,
        "Sub" => Op::Sub,
        "Mul" => Op::Mul,
        _ => Op::Div,
    };
    let shape = node
        .input
        .iter()
        .find_map(|i| pending.get(i.as_str()))
        .ok_or("no channels-last operand")?
        .shape;
    let mut operands = Vec::with_capacity(2);
    for input in node.input.iter().take(2) {
        let outlet = match (pending.get(input.as_str()), consts.get(input.as_str())) {
            (Some(p), _) if p.flattened.is_none() && p.shape == shape => p.source,
            (_, Some(t)) => constant(channels_first_constant(t, shape[0])?),
            _ => {
                return Err(format!(
                    "operand '{input}' must be a channels-last map of the same shape or a constant"
                ));
            }
        };
        operands.push(outlet);
    }
    Ok(Step::Op(Box::new(op), operands, shape))
}

/// A constant operand of a channels-last op as a channels-first one: one value stays a scalar,
/// `[.., D]` with every other axis 1 becomes `[D, 1, 1]`.
fn channels_first_constant(t: &TensorProto, channels: usize) -> Result<Array, String> {
    let a = tensor::to_array(t)?;
    let leading_ones = a.shape.iter().rev().skip(1).all(|&d| d == 1);
    match a.shape.last() {
        _ if a.len() == 1 => Ok(Array::new(vec![], a.data)),
        Some(&d) if d == channels && leading_ones => Ok(Array::new(vec![d, 1, 1], a.data)),
        _ => Err(format!(
            "the constant '{}' {:?} is not one value nor one per channel of {channels}",
            t.name, a.shape
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_move_their_channel_axis_first() {
        let t = tensor::float_tensor("b", &[3], &[1.0, 2.0, 3.0]);
        assert_eq!(channels_first_constant(&t, 3).unwrap().shape, [3, 1, 1]);
        let s = tensor::float_tensor("s", &[], &[0.5]);
        assert_eq!(
            channels_first_constant(&s, 3).unwrap().shape,
            Vec::<usize>::new()
        );
        let bad = tensor::float_tensor("m", &[2, 3], &[0.0; 6]);
        assert!(channels_first_constant(&bad, 3).is_err());
    }
}
