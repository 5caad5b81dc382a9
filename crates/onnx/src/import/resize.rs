//! ONNX `Resize` (10+) and `Upsample` (7-9) as the IR's [`Resize`]: nearest or linear
//! interpolation of the two spatial axes, by scales or to sizes.

use super::context::{Ctx, MAX_EXTENT};
use super::ops::Imported;
use crate::OnnxError;
use shears_ir::{Coordinates, Interpolation, Op, Resize, ResizeTarget, Rounding};

/// `Resize`: scales are input 1 in opset 10, input 2 from 11 on (after `roi`), sizes input 3.
pub(crate) fn resize(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let legacy = ctx.opset < 11;
    let scales = ctx.weight(if legacy { 1 } else { 2 }, "scales")?;
    let sizes = if legacy {
        None
    } else {
        ctx.const_ints(3, "sizes")?
    };
    let axes = ctx.ints("axes")?.map(<[i64]>::to_vec);
    let target = match (sizes, scales) {
        (Some(sizes), _) if !sizes.is_empty() => {
            let values: Vec<f64> = sizes.iter().map(|&v| v as f64).collect();
            let [h, w] = spatial(ctx, &values, axes.as_deref(), "sizes")?;
            if h < 1.0 || w < 1.0 || h.max(w) > MAX_EXTENT as f64 {
                return Err(ctx.fail(format!(
                    "sizes {sizes:?} must be positive and at most {MAX_EXTENT}"
                )));
            }
            ResizeTarget::Sizes([h as usize, w as usize])
        }
        (_, Some(scales)) if !scales.is_empty() => {
            ResizeTarget::Scales(scales_of(ctx, &scales.data, axes.as_deref())?)
        }
        _ => return Err(ctx.fail("neither 'scales' nor 'sizes' is given")),
    };
    check_unsupported(ctx)?;
    let coordinates = if legacy {
        Coordinates::Asymmetric
    } else {
        let mode = ctx.string("coordinate_transformation_mode")?;
        coordinates(ctx, mode.as_deref().unwrap_or("half_pixel"))?
    };
    let interpolation = interpolation(ctx, legacy, target)?;
    Imported::unary(Op::Resize(Resize {
        target,
        interpolation,
        coordinates,
    }))
}

/// `Upsample`: scales as an attribute (7) or input 1 (9), asymmetric coordinates.
pub(crate) fn upsample(ctx: &Ctx) -> Result<Imported, OnnxError> {
    let scales = if ctx.opset >= 9 {
        ctx.weight(1, "scales")?.map(|a| a.data)
    } else {
        ctx.floats("scales")?.map(<[f32]>::to_vec)
    };
    let scales = scales.ok_or_else(|| ctx.fail("'scales' is missing"))?;
    let target = ResizeTarget::Scales(scales_of(ctx, &scales, None)?);
    Imported::unary(Op::Resize(Resize {
        target,
        interpolation: interpolation(ctx, true, target)?,
        coordinates: Coordinates::Asymmetric,
    }))
}

/// The positive `[h, w]` scales of a scales list.
fn scales_of(ctx: &Ctx, scales: &[f32], axes: Option<&[i64]>) -> Result<[f32; 2], OnnxError> {
    let values: Vec<f64> = scales.iter().map(|&v| v as f64).collect();
    let [h, w] = spatial(ctx, &values, axes, "scales")?;
    if !(h > 0.0 && w > 0.0) {
        return Err(ctx.fail(format!("scales {scales:?} must be positive")));
    }
    Ok([h as f32, w as f32])
}

/// The `[h, w]` entries of a scales or sizes list over `axes` (all four axes by default); the
/// batch and channel entries must leave those axes alone.
fn spatial(
    ctx: &Ctx,
    values: &[f64],
    axes: Option<&[i64]>,
    what: &str,
) -> Result<[f64; 2], OnnxError> {
    let axes: Vec<i64> = axes.map_or_else(|| (0..values.len() as i64).collect(), <[i64]>::to_vec);
    let rank = ctx.rank(0)?;
    if axes.len() != values.len() {
        return Err(ctx.fail(format!("{what} {values:?} do not match axes {axes:?}")));
    }
    let mut hw = [None, None];
    for (&a, &v) in axes.iter().zip(values) {
        match ctx.axis_of_rank(a, rank)? {
            axis @ (2 | 3) if rank == 4 => hw[axis - 2] = Some(v),
            // The batch and channel axes keep their size: a scale of 1 or the size itself.
            0 | 1 if what == "scales" && v == 1.0 => {}
            1 if what == "sizes" && Some(v as usize) == ctx.shape(0)?.first().copied() => {}
            0 if what == "sizes" => {}
            _ => {
                return Err(ctx.fail(format!(
                    "{what} {values:?} resize an axis other than height and width of a [N, C, H, W] input; shears resizes feature maps only"
                )));
            }
        }
    }
    match hw {
        [Some(h), Some(w)] => Ok([h, w]),
        _ => Err(ctx.fail(format!("{what} {values:?} must give both height and width"))),
    }
}

/// Refuses the attributes shears does not implement.
fn check_unsupported(ctx: &Ctx) -> Result<(), OnnxError> {
    if ctx.int("antialias", 0)? != 0 {
        return Err(ctx.fail("antialias=1 is not supported; export with antialias=False"));
    }
    match ctx.string("keep_aspect_ratio_policy")?.as_deref() {
        None | Some("stretch") => Ok(()),
        Some(other) => Err(ctx.fail(format!(
            "keep_aspect_ratio_policy '{other}' is not supported (only 'stretch')"
        ))),
    }
}

fn coordinates(ctx: &Ctx, mode: &str) -> Result<Coordinates, OnnxError> {
    Ok(match mode {
        "half_pixel" => Coordinates::HalfPixel,
        "pytorch_half_pixel" => Coordinates::PytorchHalfPixel,
        "align_corners" => Coordinates::AlignCorners,
        "asymmetric" => Coordinates::Asymmetric,
        "tf_half_pixel_for_nn" => Coordinates::TfHalfPixelForNn,
        other => {
            return Err(ctx.fail(format!(
                "coordinate_transformation_mode '{other}' is not supported (half_pixel, pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn are)"
            )));
        }
    })
}

/// The interpolation from `mode` and `nearest_mode`. Before opset 11 nearest neighbour
/// truncates when enlarging and rounds up when shrinking, as ONNX Runtime does.
fn interpolation(
    ctx: &Ctx,
    legacy: bool,
    target: ResizeTarget,
) -> Result<Interpolation, OnnxError> {
    let mode = ctx.string("mode")?.unwrap_or_else(|| "nearest".into());
    match mode.as_str() {
        "nearest" if legacy => {
            let shrinks = matches!(target, ResizeTarget::Scales(s) if s.iter().any(|&v| v < 1.0));
            Ok(Interpolation::Nearest(if shrinks {
                Rounding::Ceil
            } else {
                Rounding::Floor
            }))
        }
        "nearest" => {
            let rounding = ctx.string("nearest_mode")?;
            Ok(Interpolation::Nearest(
                match rounding.as_deref().unwrap_or("round_prefer_floor") {
                    "round_prefer_floor" => Rounding::RoundPreferFloor,
                    "round_prefer_ceil" => Rounding::RoundPreferCeil,
                    "floor" => Rounding::Floor,
                    "ceil" => Rounding::Ceil,
                    other => return Err(ctx.fail(format!("unknown nearest_mode '{other}'"))),
                },
            ))
        }
        "linear" | "bilinear" => Ok(Interpolation::Linear),
        other => Err(ctx.fail(format!(
            "mode '{other}' is not supported; shears resizes with 'nearest' or 'linear'"
        ))),
    }
}
