//! Importers of ops that move or combine data without weights: `Sum`, `Split`, `Slice`, `Pad`,
//! `ReduceMean` over the spatial axes, `LRN`, a `Gather` that permutes channels (how shears
//! writes a channel shuffle) and a `Squeeze` of unit spatial axes (tf2onnx's flatten after a
//! global average pool). Axes are counted with the batch axis, as ONNX
//! counts them; none of these may change the batch axis.

use super::context::{Ctx, Input, MAX_EXTENT};
use super::ops::{Imported, Operand, Part};
use crate::OnnxError;
use shears_ir::{Op, PadMode};

/// `Sum` of n inputs: a chain of n - 1 `Add`s (one input: an identity).
pub(crate) fn sum(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let n = ctx.inputs.len();
    if n == 0 {
        return Err(ctx.fail("Sum needs at least one input"));
    }
    if n == 1 {
        return Imported::unary(Op::Identity);
    }
    let parts = (1..n)
        .map(|k| Part {
            op: Op::Add,
            data: vec![
                if k == 1 {
                    Operand::Input(0)
                } else {
                    Operand::Part(k - 2)
                },
                Operand::Input(k),
            ],
            output: (k == n - 1).then_some(0),
        })
        .collect();
    Ok(Imported { parts })
}

/// `[start, end)` of a slice along an axis of `extent`, ONNX's clamping of negative and
/// out-of-range bounds.
fn bounds(start: i64, end: i64, extent: usize) -> (usize, usize) {
    let n = extent as i64;
    let clamp = |i: i64| (if i < 0 { i + n } else { i }).clamp(0, n) as usize;
    let (s, e) = (clamp(start), clamp(end));
    (s, e.max(s))
}

/// A slice of data input 0 along `axis` (with the batch axis), or `None` for the whole axis.
fn slice_op(ctx: &Ctx, axis: usize, start: usize, end: usize) -> Result<Option<Op>, OnnxError> {
    let shape = ctx.shape(0)?;
    let extent = axis
        .checked_sub(1)
        .and_then(|a| shape.get(a))
        .copied()
        .ok_or_else(|| ctx.fail(format!("shears slices per-sample axes only, not axis {axis} of {shape:?} (axis 0 is the batch)")))?;
    if start == 0 && end == extent {
        return Ok(None);
    }
    if start >= end {
        return Err(ctx.fail(format!("the slice {start}..{end} of axis {axis} is empty")));
    }
    Ok(Some(Op::Slice { axis, start, end }))
}

/// `Slice` with unit steps; one IR slice per axis that is cut.
pub(crate) fn slice(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let list = |index: usize, attr: &str| -> Result<Option<Vec<i64>>, OnnxError> {
        if ctx.opset < 10 {
            Ok(ctx.ints(attr)?.map(<[i64]>::to_vec))
        } else {
            ctx.const_ints(index, attr)
        }
    };
    let starts = list(1, "starts")?.ok_or_else(|| ctx.fail("'starts' is missing"))?;
    let ends = list(2, "ends")?.ok_or_else(|| ctx.fail("'ends' is missing"))?;
    let rank = ctx.rank(0)?;
    let axes = list(3, "axes")?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    if let Some(steps) = list(4, "steps")?
        && steps.iter().any(|&s| s != 1)
    {
        return Err(ctx.fail(format!(
            "steps {steps:?}: shears supports Slice with unit steps only"
        )));
    }
    if starts.len() != ends.len() || starts.len() != axes.len() {
        return Err(ctx.fail("starts, ends and axes must have the same length"));
    }
    let shape = ctx.shape(0)?;
    let mut ops = Vec::new();
    for ((&s, &e), &a) in starts.iter().zip(&ends).zip(&axes) {
        let axis = ctx.axis_of_rank(a, rank)?;
        let extent = if axis == 0 {
            usize::MAX >> 2
        } else {
            shape[axis - 1]
        };
        let (start, end) = bounds(s, e, extent);
        if axis == 0 && start == 0 && end >= extent {
            continue;
        }
        if let Some(op) = slice_op(ctx, axis, start, end)? {
            ops.push(op);
        }
    }
    chain(ops)
}

/// Ops applied one after the other to input 0, the last computing output 0.
fn chain(ops: Vec<Op>) -> Result<Imported, OnnxError> {
    if ops.is_empty() {
        return Imported::unary(Op::Identity);
    }
    let n = ops.len();
    let parts = ops
        .into_iter()
        .enumerate()
        .map(|(k, op)| Part {
            op,
            data: vec![if k == 0 {
                Operand::Input(0)
            } else {
                Operand::Part(k - 1)
            }],
            output: (k == n - 1).then_some(0),
        })
        .collect();
    Ok(Imported { parts })
}

/// `Split`: one slice per output, sizes from the attribute (opset < 13), input 1, or equal
/// parts (the last one smaller when the axis does not divide).
pub(crate) fn split(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let rank = ctx.rank(0)?;
    let axis = ctx.axis_of_rank(ctx.int("axis", 0)?, rank)?;
    let shape = ctx.shape(0)?;
    let extent = axis
        .checked_sub(1)
        .map(|a| shape[a])
        .ok_or_else(|| ctx.fail("shears does not split the batch axis"))?;
    let outputs = ctx.node.output.len();
    let sizes: Vec<usize> = match (ctx.ints("split")?, ctx.input(1)) {
        (Some(s), _) => s.iter().map(|&v| v.max(0) as usize).collect(),
        (None, Input::Const(_)) => ctx
            .const_ints(1, "split")?
            .unwrap_or_default()
            .iter()
            .map(|&v| v.max(0) as usize)
            .collect(),
        _ => {
            let chunk = extent.div_ceil(outputs.max(1));
            (0..outputs)
                .map(|k| chunk.min(extent.saturating_sub(k * chunk)))
                .collect()
        }
    };
    let total = sizes.iter().try_fold(0usize, |sum, &v| sum.checked_add(v));
    if sizes.len() != outputs || total != Some(extent) || sizes.contains(&0) {
        return Err(ctx.fail(format!(
            "split sizes {sizes:?} do not cut axis {axis} of {extent} into {outputs} non-empty parts"
        )));
    }
    let mut start = 0;
    let mut parts = Vec::with_capacity(outputs);
    for (k, size) in sizes.into_iter().enumerate() {
        parts.push(Part {
            op: Op::Slice {
                axis,
                start,
                end: start + size,
            },
            data: vec![Operand::Input(0)],
            output: Some(k),
        });
        start += size;
    }
    Ok(Imported { parts })
}

/// `Pad` of the spatial axes (constant, reflect or edge).
pub(crate) fn pad(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let rank = ctx.rank(0)?;
    let (pads, value) = if ctx.opset < 11 {
        let pads = ctx.ints("pads")?.map(<[i64]>::to_vec);
        (pads, ctx.float("value", 0.0)?)
    } else {
        (
            ctx.const_ints(1, "pads")?,
            ctx.scalar(2, "constant value")?.unwrap_or(0.0),
        )
    };
    let pads = pads.ok_or_else(|| ctx.fail("'pads' is missing"))?;
    let axes: Vec<usize> = match ctx.const_ints(3, "axes")? {
        Some(a) => a
            .iter()
            .map(|&a| ctx.axis_of_rank(a, rank))
            .collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    let in_range = |p: &i64| (0..=MAX_EXTENT as i64).contains(p);
    if pads.len() != 2 * axes.len() || !pads.iter().all(in_range) {
        return Err(ctx.fail(format!(
            "pads {pads:?} must be 2 values from 0 to {MAX_EXTENT} per axis"
        )));
    }
    let mut full = vec![0usize; 2 * rank];
    for (i, &a) in axes.iter().enumerate() {
        full[a] = pads[i] as usize;
        full[rank + a] = pads[axes.len() + i] as usize;
    }
    if rank != 4 || [0, 1, 4, 5].iter().any(|&i| full[i] != 0) {
        return Err(ctx.fail(format!(
            "pads {pads:?}: shears pads the two spatial axes of an [N, C, H, W] map only"
        )));
    }
    let mode = match ctx.string("mode")?.as_deref().unwrap_or("constant") {
        "constant" => PadMode::Constant(value),
        "reflect" => PadMode::Reflect,
        "edge" => PadMode::Edge,
        other => return Err(ctx.fail(format!("pad mode '{other}' is not supported"))),
    };
    Imported::unary(Op::Pad {
        pads: [full[2], full[3], full[6], full[7]],
        mode,
    })
}

/// `ReduceMean` over the two spatial axes: a global average pool, then a flatten unless the
/// axes are kept.
pub(crate) fn reduce_mean(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let rank = ctx.rank(0)?;
    let axes = match ctx.ints("axes")? {
        Some(a) => Some(a.to_vec()),
        None => ctx.const_ints(1, "axes")?,
    };
    let mut axes: Vec<usize> = axes
        .unwrap_or_default()
        .iter()
        .map(|&a| ctx.axis_of_rank(a, rank))
        .collect::<Result<_, _>>()?;
    axes.sort_unstable();
    let keepdims = ctx.int("keepdims", 1)? != 0;
    if rank == 4 && axes == [1] && keepdims {
        return Imported::unary(Op::ChannelMean);
    }
    if rank != 4 || axes != [2, 3] {
        return Err(ctx.fail(format!(
            "ReduceMean over axes {axes:?} of a rank-{rank} input: shears supports the mean over the spatial axes [2, 3] of [N, C, H, W], or over the channels [1] keeping the axis"
        )));
    }
    let mut ops = vec![Op::GlobalAvgPool];
    if ctx.int("keepdims", 1)? == 0 {
        ops.push(Op::Flatten { axis: 1 });
    }
    chain(ops)
}

/// `Squeeze` of computed data: dropping the unit spatial axes of `[N, C, 1, 1]` (what tf2onnx
/// writes after a global average pool) is a flatten. (A `Squeeze` of constants folds instead.)
pub(crate) fn squeeze(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let rank = ctx.rank(0)?;
    let shape = ctx.shape(0)?;
    let axes = match ctx.ints("axes")? {
        Some(a) => Some(a.to_vec()),
        None => ctx.const_ints(1, "axes")?,
    };
    let mut axes: Vec<usize> = match axes {
        Some(axes) => axes
            .iter()
            .map(|&a| ctx.axis_of_rank(a, rank))
            .collect::<Result<_, _>>()?,
        // Every axis of size 1 (the batch axis is never squeezed here).
        None => (2..rank).filter(|&a| shape[a - 1] == 1).collect(),
    };
    axes.sort_unstable();
    let spatial: Vec<usize> = (2..rank).collect();
    if axes != spatial || shape.iter().skip(1).any(|&d| d != 1) {
        return Err(ctx.fail(format!(
            "Squeeze of axes {axes:?} of a [N, {}] value: shears supports dropping the unit spatial axes of [N, C, 1, 1] only",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Imported::unary(Op::Flatten { axis: 1 })
}

pub(crate) fn lrn(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let size = ctx.int("size", 0)?;
    if !(1..=MAX_EXTENT as i64).contains(&size) {
        return Err(ctx.fail(format!(
            "attribute 'size' must be an int from 1 to {MAX_EXTENT}"
        )));
    }
    Imported::unary(Op::Lrn {
        size: size as usize,
        alpha: ctx.float("alpha", 1e-4)?,
        beta: ctx.float("beta", 0.75)?,
        bias: ctx.float("bias", 1.0)?,
    })
}

/// `Gather` along the channel axis with constant indices that list every channel once: a
/// channel permutation. (A `Gather` on constants folds at import instead.)
pub(crate) fn gather(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let axis = ctx.axis_of_rank(ctx.int("axis", 0)?, ctx.rank(0)?)?;
    let indices = ctx
        .const_ints(1, "indices")?
        .ok_or_else(|| ctx.fail("the indices must be a constant"))?;
    let channels = ctx.shape(0)?.first().copied().unwrap_or(0);
    let mut order = Vec::with_capacity(indices.len());
    let mut seen = vec![false; channels];
    for &i in &indices {
        let c = if i < 0 { i + channels as i64 } else { i };
        match usize::try_from(c).ok().filter(|&c| c < channels) {
            Some(c) if !seen[c] => {
                seen[c] = true;
                order.push(c);
            }
            _ => break,
        }
    }
    if axis != 1 || order.len() != channels || indices.len() != channels {
        return Err(ctx.fail(format!(
            "shears imports a Gather on computed data only as a permutation of the channels (axis 1, every index once); this one gathers {} indices along axis {axis}",
            indices.len()
        )));
    }
    Imported::unary(Op::PermuteChannels { order })
}
