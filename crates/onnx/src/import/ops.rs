//! The import table: one small function per ONNX op type, each turning a node into an IR op.
//!
//! An importer reads attributes and constant inputs (weights) through [`Ctx`] and returns the
//! op plus the indices of the node inputs that are data (computed values). Adding an op is a
//! new function and a new line in [`importer`].

use super::context::{Ctx, Input, MAX_EXTENT};
use super::{layout, resize};
use crate::{OnnxError, momentum};
use shears_ir::{Array, BatchNorm2d, Conv2d, ConvTranspose2d, LayerNorm, Linear, Op, Pool2d};

/// Where a part of an imported node reads a value from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Operand {
    /// Node input `i`.
    Input(usize),
    /// The output of an earlier part of the same node.
    Part(usize),
}

/// One IR node an ONNX node becomes.
pub(crate) struct Part {
    pub op: Op,
    pub data: Vec<Operand>,
    /// The ONNX output this part computes, if any (else it is internal to the node).
    pub output: Option<usize>,
}

/// The IR nodes of one ONNX node: usually one; `Sum` of three inputs is two `Add`s, `Split` one
/// `Slice` per output, `ReduceMean` without kept axes a pooling and a flatten.
pub(crate) struct Imported {
    pub parts: Vec<Part>,
}

impl Imported {
    /// One op computing output 0 from node inputs `data`.
    pub(crate) fn op(op: Op, data: Vec<usize>) -> Result<Self, OnnxError> {
        Ok(Self {
            parts: vec![Part {
                op,
                data: data.into_iter().map(Operand::Input).collect(),
                output: Some(0),
            }],
        })
    }

    /// An op reading input 0 only.
    pub(crate) fn unary(op: Op) -> Result<Self, OnnxError> {
        Self::op(op, vec![0])
    }
}

/// Whether a constant may stand as a data operand of `op` (it becomes an [`Op::Constant`]).
pub(crate) fn takes_constant_operands(op: &Op) -> bool {
    matches!(
        op,
        Op::Add | Op::Mul | Op::Sub | Op::Div | Op::Concat { .. }
    )
}

/// Converts one node.
pub(crate) type ImportFn = fn(&Ctx) -> Result<Imported, OnnxError>;

/// The importer of an op type of the default ONNX domain, `None` if shears does not support it.
/// (`Constant` nodes are folded into constants before this table is consulted.)
pub(crate) fn importer(op_type: &str) -> Option<ImportFn> {
    Some(match op_type {
        "Conv" => conv,
        "ConvTranspose" => conv_transpose,
        "BatchNormalization" => batch_norm,
        "Gemm" => gemm,
        "MatMul" => matmul,
        "Relu" => |_| Imported::unary(Op::Relu),
        "Clip" => clip,
        "LeakyRelu" => leaky_relu,
        "Sigmoid" => |_| Imported::unary(Op::Sigmoid),
        "HardSigmoid" => hard_sigmoid,
        "HardSwish" => |_| Imported::unary(Op::HardSwish),
        "Tanh" => |_| Imported::unary(Op::Tanh),
        "Erf" => |_| Imported::unary(Op::Erf),
        "Sqrt" => |_| Imported::unary(Op::Sqrt),
        "Pow" => pow,
        "Gelu" => gelu,
        "LayerNormalization" => layer_norm,
        "MaxPool" => max_pool,
        "AveragePool" => avg_pool,
        "GlobalAveragePool" => |_| Imported::unary(Op::GlobalAvgPool),
        "Flatten" => flatten,
        "Reshape" => reshape,
        "Add" => |_| Imported::op(Op::Add, vec![0, 1]),
        "Mul" => |_| Imported::op(Op::Mul, vec![0, 1]),
        "Sub" => |_| Imported::op(Op::Sub, vec![0, 1]),
        "Div" => |_| Imported::op(Op::Div, vec![0, 1]),
        "Sum" => layout::sum,
        "Split" => layout::split,
        "Slice" => layout::slice,
        "Pad" => layout::pad,
        "ReduceMean" => layout::reduce_mean,
        "LRN" => layout::lrn,
        "Resize" => resize::resize,
        "Upsample" => resize::upsample,
        "Gather" => layout::gather,
        "Squeeze" => layout::squeeze,
        "Concat" => concat,
        "Dropout" => dropout,
        "Identity" => |_| Imported::unary(Op::Identity),
        "Softmax" => softmax,
        _ => return None,
    })
}

/// A 2-D (transposed) convolution's weight, input 1, of the 4-D `layout` named in errors, and
/// its `[kh, kw]` (which `kernel_shape`, if given, must match).
fn kernel_weight(ctx: &Ctx, layout: &str) -> Result<(Array, [usize; 2]), OnnxError> {
    let weight = ctx.required_weight(1, "weight")?;
    let [_, _, kh, kw] = weight.shape[..] else {
        return Err(ctx.fail(format!(
            "weight has shape {:?}; shears supports 2-D convolutions only ({layout})",
            weight.shape
        )));
    };
    if weight.shape.contains(&0) {
        return Err(ctx.fail(format!("weight has an empty axis: {:?}", weight.shape)));
    }
    if let Some(ks) = ctx.ints("kernel_shape")?
        && ks != [kh as i64, kw as i64]
    {
        return Err(ctx.fail(format!(
            "kernel_shape {ks:?} does not match the weight {:?}",
            weight.shape
        )));
    }
    Ok((weight, [kh, kw]))
}

/// Attribute `group`, from 1 to [`MAX_EXTENT`].
fn group_count(ctx: &Ctx) -> Result<usize, OnnxError> {
    usize::try_from(ctx.int("group", 1)?)
        .ok()
        .filter(|g| (1..=MAX_EXTENT).contains(g))
        .ok_or_else(|| ctx.fail(format!("attribute 'group' must be from 1 to {MAX_EXTENT}")))
}

fn conv(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let (weight, kernel) = kernel_weight(ctx, "[out, in/groups, kh, kw]")?;
    let stride = ctx.pair("strides", 1)?;
    let dilation = ctx.pair("dilations", 1)?;
    let groups = group_count(ctx)?;
    let padding = padding(ctx, kernel, stride, dilation)?;
    let bias = ctx.weight(2, "bias")?;
    Imported::unary(Op::Conv2d(Conv2d {
        weight,
        bias,
        stride,
        padding,
        dilation,
        groups,
    }))
}

/// A layer norm over the features of `[N, C]` values. Over a feature map's channels it comes
/// between transposes to channels-last and back (see `channels_last`).
fn layer_norm(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let rank = ctx.rank(0)?;
    let axis = ctx.axis_of_rank(ctx.int("axis", -1)?, rank)?;
    if rank != 2 || axis != 1 {
        return Err(ctx.fail(format!(
            "it normalises axes {axis}.. of a rank-{rank} input; shears supports a layer norm over the channels alone: of [N, C] values, or of a map moved channels-last (Transpose (0, 2, 3, 1), as PyTorch's ConvNeXt does)"
        )));
    }
    let scale = ctx.required_weight(1, "scale")?;
    let bias = ctx
        .weight(2, "bias")?
        .unwrap_or_else(|| Array::zeros(scale.shape.clone()));
    let eps = ctx.float("epsilon", 1e-5)?;
    Imported::unary(Op::LayerNorm(LayerNorm { scale, bias, eps }))
}

/// `Pow` by a constant exponent.
fn pow(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let exponent = ctx
        .scalar(1, "exponent")?
        .filter(|e| e.is_finite())
        .ok_or_else(|| ctx.fail("the exponent must be one finite constant"))?;
    Imported::unary(Op::Pow { exponent })
}

fn gelu(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let tanh = match ctx.string("approximate")?.as_deref() {
        None | Some("none") => false,
        Some("tanh") => true,
        Some(other) => {
            return Err(ctx.fail(format!(
                "approximate '{other}' is unknown ('none' or 'tanh')"
            )));
        }
    };
    Imported::unary(Op::Gelu { tanh })
}

/// `ConvTranspose`, its pads from `pads`, `output_shape` or `auto_pad` (see
/// [`transpose_padding`]).
fn conv_transpose(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let (weight, kernel) = kernel_weight(ctx, "[in, out/groups, kh, kw]")?;
    let stride = ctx.pair("strides", 1)?;
    let dilation = ctx.pair("dilations", 1)?;
    let output_padding = match ctx.usizes("output_padding", 2, 0, 0)?[..] {
        [h, w] => [h, w],
        _ => unreachable!("two values"),
    };
    let groups = group_count(ctx)?;
    let padding = transpose_padding(ctx, kernel, stride, dilation, output_padding)?;
    Imported::unary(Op::ConvTranspose2d(ConvTranspose2d {
        weight,
        bias: ctx.weight(2, "bias")?,
        stride,
        padding,
        output_padding,
        dilation,
        groups,
    }))
}

/// A transposed conv's `[top, left, bottom, right]`: `pads`, or worked out from `output_shape`
/// or `auto_pad` as the spec says (the total padding split evenly, the odd one at the end for
/// `SAME_UPPER`).
fn transpose_padding(
    ctx: &Ctx,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
    output_padding: [usize; 2],
) -> Result<[usize; 4], OnnxError> {
    let auto_pad = ctx.string("auto_pad")?.unwrap_or_default();
    let output_shape = ctx.ints("output_shape")?;
    if output_shape.is_none() && matches!(auto_pad.as_str(), "" | "NOTSET") {
        let p = ctx.usizes("pads", 4, 0, 0)?;
        return Ok([p[0], p[1], p[2], p[3]]);
    }
    if auto_pad == "VALID" {
        return Ok([0; 4]);
    }
    let shape = ctx.shape(0)?;
    let [_, h, w] = shape[..] else {
        return Err(ctx.fail(format!(
            "input must be [N, C, H, W], got per-sample shape {shape:?}"
        )));
    };
    let wanted: Vec<usize> = match output_shape {
        Some(s) => s[s.len().saturating_sub(2)..]
            .iter()
            .map(|&v| usize::try_from(v).unwrap_or(0))
            .collect(),
        None => vec![h * stride[0], w * stride[1]],
    };
    let mut pads = [0; 4];
    for (axis, len) in [h, w].into_iter().enumerate() {
        let full = (len - 1) * stride[axis]
            + output_padding[axis]
            + dilation[axis] * (kernel[axis] - 1)
            + 1;
        let total = full
            .checked_sub(*wanted.get(axis).unwrap_or(&0))
            .ok_or_else(|| {
                ctx.fail(format!(
                    "output_shape {wanted:?} is larger than the full output"
                ))
            })?;
        let (begin, end) = if auto_pad == "SAME_UPPER" {
            (total / 2, total - total / 2)
        } else {
            (total - total / 2, total / 2)
        };
        pads[axis] = begin;
        pads[axis + 2] = end;
    }
    Ok(pads)
}

/// `[top, left, bottom, right]` from `pads` or `auto_pad` (SAME_* computed from the input size).
fn padding(
    ctx: &Ctx,
    kernel: [usize; 2],
    stride: [usize; 2],
    dilation: [usize; 2],
) -> Result<[usize; 4], OnnxError> {
    let auto_pad = ctx.string("auto_pad")?.unwrap_or_default();
    match auto_pad.as_str() {
        "" | "NOTSET" => {
            let p = ctx.usizes("pads", 4, 0, 0)?;
            Ok([p[0], p[1], p[2], p[3]])
        }
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let shape = ctx.shape(0)?;
            let [_, h, w] = shape[..] else {
                return Err(ctx.fail(format!(
                    "input must be [N, C, H, W], got per-sample shape {shape:?}"
                )));
            };
            let mut pads = [0; 4];
            for (axis, len) in [h, w].into_iter().enumerate() {
                let out = len.div_ceil(stride[axis]);
                let span = dilation[axis] * (kernel[axis] - 1) + 1;
                let total = ((out.saturating_sub(1)) * stride[axis] + span).saturating_sub(len);
                let small = total / 2;
                let (begin, end) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[axis] = begin;
                pads[axis + 2] = end;
            }
            Ok(pads)
        }
        other => Err(ctx.fail(format!("unknown auto_pad '{other}'"))),
    }
}

fn batch_norm(ctx: &Ctx) -> Result<Imported, OnnxError> {
    if ctx.int("training_mode", 0)? != 0 {
        return Err(ctx.fail("training_mode=1 is not supported; export the model in eval mode"));
    }
    if ctx.opset < 9 && ctx.int("spatial", 1)? == 0 {
        return Err(ctx.fail("spatial=0 (per-activation statistics) is not supported"));
    }
    Imported::unary(Op::BatchNorm2d(BatchNorm2d {
        gamma: ctx.required_weight(1, "scale")?,
        beta: ctx.required_weight(2, "bias")?,
        mean: ctx.required_weight(3, "running mean")?,
        var: ctx.required_weight(4, "running variance")?,
        eps: ctx.float("epsilon", 1e-5)?,
        momentum: momentum::from_onnx(ctx.float("momentum", 0.9)?),
    }))
}

/// `[rows, cols]` to `[cols, rows]`.
pub(crate) fn transpose(a: &Array) -> Array {
    let (rows, cols) = (a.shape[0], a.shape[1]);
    let data = (0..cols)
        .flat_map(|c| (0..rows).map(move |r| a.data[r * cols + c]))
        .collect();
    Array::new(vec![cols, rows], data)
}

fn matrix(ctx: &Ctx, index: usize) -> Result<Array, OnnxError> {
    let b = ctx.required_weight(index, "weight")?;
    if b.shape.len() != 2 {
        return Err(ctx.fail(format!("weight must be a matrix, got shape {:?}", b.shape)));
    }
    Ok(b)
}

/// `Y = alpha * A * op(B) + beta * C`, folded into a linear layer `[out, in]`.
fn gemm(ctx: &Ctx) -> Result<Imported, OnnxError> {
    if ctx.int("transA", 0)? != 0 {
        return Err(ctx.fail("transA=1 is not supported (the data input must be [N, features])"));
    }
    let b = matrix(ctx, 1)?;
    let mut weight = if ctx.int("transB", 0)? != 0 {
        b
    } else {
        transpose(&b)
    };
    let alpha = ctx.float("alpha", 1.0)?;
    let beta = ctx.float("beta", 1.0)?;
    if alpha != 1.0 {
        weight.data.iter_mut().for_each(|v| *v *= alpha);
    }
    let out = weight.shape[0];
    let bias = match ctx.weight(2, "bias")? {
        Some(_) if beta == 0.0 => None,
        None => None,
        Some(c) => {
            let data = match c.len() {
                n if n == out => c.data,
                1 => vec![c.data[0]; out],
                _ => {
                    return Err(ctx.fail(format!(
                        "bias of shape {:?} does not broadcast to [{out}]",
                        c.shape
                    )));
                }
            };
            Some(Array::new(
                vec![out],
                data.into_iter().map(|v| v * beta).collect(),
            ))
        }
    };
    Imported::unary(Op::Linear(Linear { weight, bias }))
}

/// `Y = A * B` with a constant `B` `[in, out]`: a linear layer without bias.
fn matmul(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let weight = transpose(&matrix(ctx, 1)?);
    Imported::unary(Op::Linear(Linear { weight, bias: None }))
}

/// Bounds from attributes (opset < 11) or constant inputs (opset >= 11).
fn clip(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let mut min = ctx.float("min", f32::NEG_INFINITY)?;
    let mut max = ctx.float("max", f32::INFINITY)?;
    if let Some(v) = ctx.scalar(1, "min")? {
        min = v;
    }
    if let Some(v) = ctx.scalar(2, "max")? {
        max = v;
    }
    Imported::unary(Op::Clip { min, max })
}

fn leaky_relu(ctx: &Ctx) -> Result<Imported, OnnxError> {
    Imported::unary(Op::LeakyRelu {
        alpha: ctx.float("alpha", 0.01)?,
    })
}

fn hard_sigmoid(ctx: &Ctx) -> Result<Imported, OnnxError> {
    Imported::unary(Op::HardSigmoid {
        alpha: ctx.float("alpha", 0.2)?,
        beta: ctx.float("beta", 0.5)?,
    })
}

fn pool(ctx: &Ctx) -> Result<Pool2d, OnnxError> {
    if ctx.ints("kernel_shape")?.is_none() {
        return Err(ctx.fail("attribute 'kernel_shape' is missing"));
    }
    let k = ctx.usizes("kernel_shape", 2, 1, 1)?;
    let kernel = [k[0], k[1]];
    let stride = ctx.pair("strides", 1)?;
    let dilation = ctx.pair("dilations", 1)?;
    Ok(Pool2d {
        kernel,
        stride,
        padding: padding(ctx, kernel, stride, dilation)?,
        dilation,
        ceil_mode: ctx.int("ceil_mode", 0)? != 0,
        count_include_pad: ctx.int("count_include_pad", 0)? != 0,
    })
}

fn max_pool(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let pool = Pool2d {
        count_include_pad: false,
        ..pool(ctx)?
    };
    Imported::unary(Op::MaxPool2d(pool))
}

fn avg_pool(ctx: &Ctx) -> Result<Imported, OnnxError> {
    Imported::unary(Op::AvgPool2d(pool(ctx)?))
}

fn flatten(ctx: &Ctx) -> Result<Imported, OnnxError> {
    Imported::unary(Op::Flatten {
        axis: ctx.axis(ctx.int("axis", 1)?)?,
    })
}

/// A reshape to `[N, features]` (PyTorch's `x.view(x.size(0), -1)` with a constant shape) is a
/// flatten; other reshapes are not supported.
fn reshape(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let shape = match ctx.input(1) {
        Input::Const(_) => ctx.const_ints(1, "target shape")?.unwrap_or_default(),
        _ => {
            return Err(
                ctx.fail("the target shape must be a constant (an initializer or a Constant)")
            );
        }
    };
    let numel: usize = ctx.shape(0)?.iter().product();
    let flattens = match shape[..] {
        [batch, -1] => batch != -1,
        [_, features] => features == numel as i64,
        _ => false,
    };
    if !flattens {
        return Err(ctx.fail(format!(
            "reshapes to {shape:?}; shears imports Reshape only as a per-sample flatten to [N, features]"
        )));
    }
    Imported::unary(Op::Flatten { axis: 1 })
}

fn concat(ctx: &Ctx) -> Result<Imported, OnnxError> {
    if !ctx.has_attr("axis") {
        return Err(ctx.fail("attribute 'axis' is missing"));
    }
    let axis = ctx.axis(ctx.int("axis", 1)?)?;
    let data = (0..ctx.inputs.len())
        .filter(|&i| !matches!(ctx.input(i), Input::Absent))
        .collect();
    Imported::op(Op::Concat { axis }, data)
}

/// Ratio from the attribute (opset < 12) or the optional constant input (opset >= 12).
fn dropout(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let mut ratio = ctx.float("ratio", 0.5)?;
    if let Some(v) = ctx.scalar(1, "ratio")? {
        ratio = v;
    }
    Imported::unary(Op::Dropout { ratio })
}

/// Softmax over one axis (opset >= 13). Before opset 13 Softmax flattened the axes from `axis`
/// on, which equals a one-axis softmax only over the last axis, or when the axes after it are
/// all of size 1 (a classifier's `[N, classes, 1, 1]`).
fn softmax(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let default = if ctx.opset >= 13 { -1 } else { 1 };
    let axis = ctx.axis(ctx.int("axis", default)?)?;
    if ctx.opset < 13 {
        let shape = ctx.shape(0)?;
        let rank = shape.len() + 1;
        // Flattening the trailing axes changes nothing when they are all of size 1.
        let trailing_ones =
            axis >= 1 && shape.get(axis..).is_some_and(|s| s.iter().all(|&d| d == 1));
        if axis + 1 != rank && !trailing_ones {
            return Err(ctx.fail(format!(
                "before opset 13, Softmax over axis {axis} of a rank-{rank} input flattens the trailing axes; shears imports it only over the last axis"
            )));
        }
    }
    Imported::unary(Op::Softmax { axis })
}
