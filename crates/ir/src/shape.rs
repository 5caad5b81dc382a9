//! Shape inference: one rule per op, on per-sample shapes (the batch axis is left out).

use crate::limits::tensor_elements;
use crate::{Arity, Conv2d, ConvTranspose2d, Graph, IrError, Node, Op, PadMode, Pool2d};

/// The shape of one sample of a value, e.g. `[C, H, W]` or `[features]`.
pub type Shape = Vec<usize>;

impl Graph {
    /// The shape of every node's outputs, `shapes[node][slot]`. Fails on the first node whose
    /// inputs do not fit its op, naming it.
    pub fn infer_shapes(&self) -> Result<Vec<Vec<Shape>>, IrError> {
        let mut shapes: Vec<Vec<Shape>> = Vec::with_capacity(self.nodes.len());
        for (index, node) in self.nodes.iter().enumerate() {
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for (i, outlet) in node.inputs.iter().enumerate() {
                let bad = |why| IrError::BadInput {
                    node: node.name.clone(),
                    input: i,
                    from: outlet.node,
                    why,
                };
                if outlet.node >= index {
                    return Err(bad("is not computed before it"));
                }
                inputs.push(
                    shapes[outlet.node]
                        .get(outlet.slot)
                        .ok_or_else(|| bad("has no such output"))?,
                );
            }
            let shape = infer(node, &inputs)?;
            // Every later rule may then multiply dimensions without overflow.
            tensor_elements(&format!("the output of node '{}'", node.name), &shape)?;
            shapes.push(vec![shape]);
        }
        Ok(shapes)
    }
}

fn infer(node: &Node, inputs: &[&Shape]) -> Result<Shape, IrError> {
    let op_name = node.op.type_name();
    let fail = |detail: String| IrError::Shape {
        node: node.name.clone(),
        op: op_name,
        detail,
    };
    let expected = match node.op.arity() {
        Arity::Exactly(n) if inputs.len() != n => Some(n.to_string()),
        Arity::AtLeastOne if inputs.is_empty() => Some("at least 1".to_string()),
        Arity::Exactly(_) | Arity::AtLeastOne => None,
    };
    if let Some(expected) = expected {
        return Err(IrError::Arity {
            node: node.name.clone(),
            op: op_name,
            got: inputs.len(),
            expected,
        });
    }
    let x = inputs.first().copied();
    match &node.op {
        Op::Input { shape } => Ok(shape.clone()),
        Op::Conv2d(conv) => conv_shape(conv, x.unwrap()).map_err(fail),
        Op::ConvTranspose2d(conv) => conv_transpose_shape(conv, x.unwrap()).map_err(fail),
        Op::BatchNorm2d(bn) => {
            let x = x.unwrap();
            let arrays_ok = [&bn.beta, &bn.mean, &bn.var]
                .iter()
                .all(|a| a.shape == bn.gamma.shape);
            if !arrays_ok || bn.gamma.shape.len() != 1 {
                return Err(fail(format!(
                    "gamma, beta, mean and var must all be [C]; gamma is {:?}",
                    bn.gamma.shape
                )));
            }
            if x.first() != Some(&bn.channels()) {
                return Err(fail(format!(
                    "input has shape {x:?} but the layer normalises {} channels",
                    bn.channels()
                )));
            }
            Ok(x.clone())
        }
        Op::LayerNorm(ln) => {
            let x = x.unwrap();
            let c = ln.scale.len();
            if ln.scale.shape != [c] || ln.bias.shape != [c] || x.first() != Some(&c) {
                return Err(fail(format!(
                    "scale {:?} and bias {:?} must both be [C] for the input's {x:?}",
                    ln.scale.shape, ln.bias.shape
                )));
            }
            if ln.eps.is_nan() || ln.eps <= 0.0 {
                return Err(fail(format!("epsilon {} must be positive", ln.eps)));
            }
            Ok(x.clone())
        }
        Op::Linear(l) => {
            let x = x.unwrap();
            if l.weight.shape.len() != 2
                || l.bias
                    .as_ref()
                    .is_some_and(|b| b.shape != [l.out_features()])
            {
                return Err(fail(format!(
                    "weight must be [out, in] and bias [out]; weight is {:?}",
                    l.weight.shape
                )));
            }
            if x.len() != 1 || x[0] != l.in_features() {
                return Err(fail(format!(
                    "input has shape {x:?} but the layer takes {} features (flatten first?)",
                    l.in_features()
                )));
            }
            Ok(vec![l.out_features()])
        }
        Op::MaxPool2d(p) | Op::AvgPool2d(p) => pool_shape(p, x.unwrap()).map_err(fail),
        Op::GlobalAvgPool => match x.unwrap().as_slice() {
            [c, _, _] => Ok(vec![*c, 1, 1]),
            other => Err(fail(format!("input must be [C, H, W], got {other:?}"))),
        },
        Op::Flatten { axis } => {
            if *axis != 1 {
                return Err(fail(format!(
                    "only axis 1 is supported (flattening per sample), got {axis}"
                )));
            }
            Ok(vec![x.unwrap().iter().product()])
        }
        Op::Constant { value } => Ok(value.shape.clone()),
        Op::PermuteChannels { order } => {
            let x = x.unwrap();
            let channels = x.first().copied().unwrap_or(0);
            let mut seen = vec![false; channels];
            for &c in order {
                match seen.get_mut(c) {
                    Some(s) if !*s => *s = true,
                    _ => {
                        return Err(fail(format!(
                            "order {order:?} is not a permutation of the {channels} channels of {x:?}"
                        )));
                    }
                }
            }
            if order.len() != channels {
                return Err(fail(format!(
                    "order has {} entries for {channels} channels",
                    order.len()
                )));
            }
            Ok(x.clone())
        }
        Op::Slice { axis, start, end } => {
            let x = x.unwrap();
            let a = axis
                .checked_sub(1)
                .filter(|a| *a < x.len())
                .ok_or_else(|| fail(format!("axis {axis} is not a per-sample axis of {x:?}")))?;
            if start >= end || *end > x[a] {
                return Err(fail(format!(
                    "range {start}..{end} is empty or outside axis {axis} of {x:?}"
                )));
            }
            let mut out = x.clone();
            out[a] = end - start;
            Ok(out)
        }
        Op::Pad { pads, mode } => match x.unwrap().as_slice() {
            [_, h, w]
                if *mode == PadMode::Reflect
                    && pads.iter().enumerate().any(|(i, &p)| p >= [*h, *w][i % 2]) =>
            {
                Err(fail(format!(
                    "reflect padding {pads:?} must be smaller than the map {h}x{w}"
                )))
            }
            [c, h, w] => {
                let side = |n: usize, a: usize, b: usize| n.checked_add(a)?.checked_add(b);
                match (side(*h, pads[0], pads[2]), side(*w, pads[1], pads[3])) {
                    (Some(h), Some(w)) => Ok(vec![*c, h, w]),
                    _ => Err(fail(format!("padding {pads:?} overflows the input {x:?}"))),
                }
            }
            other => Err(fail(format!("input must be [C, H, W], got {other:?}"))),
        },
        Op::Resize(r) => match x.unwrap().as_slice() {
            [c, h, w] => match (r.out_len(0, *h), r.out_len(1, *w)) {
                (Some(oh), Some(ow)) => Ok(vec![*c, oh, ow]),
                _ => Err(fail(format!(
                    "{:?} gives an empty or oversized map from {h}x{w}",
                    r.target
                ))),
            },
            other => Err(fail(format!("input must be [C, H, W], got {other:?}"))),
        },
        Op::ChannelMean => match x.unwrap().as_slice() {
            [_, h, w] => Ok(vec![1, *h, *w]),
            other => Err(fail(format!("input must be [C, H, W], got {other:?}"))),
        },
        Op::Lrn { size, .. } => {
            let x = x.unwrap();
            if *size == 0 || x.len() != 3 {
                return Err(fail(format!(
                    "size {size} must be positive and the input [C, H, W], got {x:?}"
                )));
            }
            Ok(x.clone())
        }
        Op::Add | Op::Mul | Op::Sub | Op::Div => broadcast(inputs[0], inputs[1]).ok_or_else(|| {
            fail(format!(
                "input shapes {:?} and {:?} do not broadcast",
                inputs[0], inputs[1]
            ))
        }),
        Op::Concat { axis } => {
            let first = inputs[0];
            let axis = axis
                .checked_sub(1)
                .filter(|a| *a < first.len())
                .ok_or_else(|| {
                    fail(format!("axis {axis} is not a per-sample axis of {first:?}"))
                })?;
            let mut out = first.clone();
            out[axis] = 0;
            for s in inputs {
                let same_rest =
                    s.len() == first.len() && (0..s.len()).all(|i| i == axis || s[i] == first[i]);
                if !same_rest {
                    return Err(fail(format!(
                        "inputs {first:?} and {s:?} differ outside axis {}",
                        axis + 1
                    )));
                }
                out[axis] += s[axis];
            }
            Ok(out)
        }
        Op::Softmax { axis } => {
            let x = x.unwrap();
            if *axis == 0 || *axis > x.len() {
                return Err(fail(format!(
                    "axis {axis} is not a per-sample axis of {x:?}"
                )));
            }
            Ok(x.clone())
        }
        Op::Relu
        | Op::Clip { .. }
        | Op::LeakyRelu { .. }
        | Op::Sigmoid
        | Op::HardSigmoid { .. }
        | Op::HardSwish
        | Op::Silu
        | Op::Tanh
        | Op::Erf
        | Op::Pow { .. }
        | Op::Sqrt
        | Op::Gelu { .. }
        | Op::Identity => Ok(x.unwrap().clone()),
        Op::Dropout { ratio } => {
            if !(0.0..1.0).contains(ratio) {
                return Err(fail(format!("dropout ratio {ratio} must be in [0, 1)")));
            }
            Ok(x.unwrap().clone())
        }
    }
}

fn conv_shape(conv: &Conv2d, x: &Shape) -> Result<Shape, String> {
    let w = &conv.weight.shape;
    if w.len() != 4 || conv.groups == 0 || !w[0].is_multiple_of(conv.groups) {
        return Err(format!(
            "weight {w:?} must be [out, in/groups, kh, kw] with out divisible by groups {}",
            conv.groups
        ));
    }
    if let Some(b) = &conv.bias
        && b.shape != [w[0]]
    {
        return Err(format!("bias {:?} must be [{}]", b.shape, w[0]));
    }
    let [c, h, wd] = x.as_slice() else {
        return Err(format!("input must be [C, H, W], got {x:?}"));
    };
    if conv.stride.contains(&0) || conv.dilation.contains(&0) || w[2] == 0 || w[3] == 0 {
        return Err(format!(
            "stride {:?}, dilation {:?} and kernel {:?} must be positive",
            conv.stride,
            conv.dilation,
            conv.kernel()
        ));
    }
    if *c != conv.in_channels() {
        return Err(format!(
            "input has {c} channels but the weight {w:?} with {} groups expects {}",
            conv.groups,
            conv.in_channels()
        ));
    }
    let out = |axis: usize, len: usize| {
        let pads = conv.padding[axis].checked_add(conv.padding[axis + 2])?;
        window_out(
            len,
            w[2 + axis],
            conv.stride[axis],
            pads,
            conv.dilation[axis],
            false,
        )
    };
    let (oh, ow) = (out(0, *h), out(1, *wd));
    match (oh, ow) {
        (Some(oh), Some(ow)) => Ok(vec![w[0], oh, ow]),
        _ => Err(format!(
            "kernel {:?} does not fit input {x:?} with padding {:?}",
            conv.kernel(),
            conv.padding
        )),
    }
}

fn conv_transpose_shape(conv: &ConvTranspose2d, x: &Shape) -> Result<Shape, String> {
    let w = &conv.weight.shape;
    if w.len() != 4 || conv.groups == 0 || !w[0].is_multiple_of(conv.groups) || w.contains(&0) {
        return Err(format!(
            "weight {w:?} must be [in, out/groups, kh, kw] with in divisible by groups {}",
            conv.groups
        ));
    }
    if let Some(b) = &conv.bias
        && b.shape != [conv.out_channels()]
    {
        return Err(format!(
            "bias {:?} must be [{}]",
            b.shape,
            conv.out_channels()
        ));
    }
    let [c, h, wd] = x.as_slice() else {
        return Err(format!("input must be [C, H, W], got {x:?}"));
    };
    if *c != conv.in_channels() {
        return Err(format!(
            "input has {c} channels but the weight {w:?} reads {}",
            w[0]
        ));
    }
    let positive = !conv.stride.contains(&0) && !conv.dilation.contains(&0);
    let padding_fits =
        (0..2).all(|a| conv.output_padding[a] < conv.stride[a].max(conv.dilation[a]));
    if !positive || !padding_fits {
        return Err(format!(
            "stride {:?} and dilation {:?} must be positive and output padding {:?} smaller than one of them",
            conv.stride, conv.dilation, conv.output_padding
        ));
    }
    // (in - 1) * stride + dilation * (k - 1) + 1 + output padding - pads
    let out = |axis: usize, len: usize| {
        let full = (len - 1)
            .checked_mul(conv.stride[axis])?
            .checked_add(conv.dilation[axis].checked_mul(w[2 + axis] - 1)?)?
            .checked_add(1 + conv.output_padding[axis])?;
        full.checked_sub(conv.padding[axis].checked_add(conv.padding[axis + 2])?)
            .filter(|&n| n > 0)
    };
    match (out(0, *h), out(1, *wd)) {
        (Some(oh), Some(ow)) => Ok(vec![conv.out_channels(), oh, ow]),
        _ => Err(format!(
            "padding {:?} crops away the whole output of input {x:?}",
            conv.padding
        )),
    }
}

fn pool_shape(p: &Pool2d, x: &Shape) -> Result<Shape, String> {
    let [c, h, w] = x.as_slice() else {
        return Err(format!("input must be [C, H, W], got {x:?}"));
    };
    if p.kernel.contains(&0) || p.stride.contains(&0) || p.dilation.contains(&0) {
        return Err(format!(
            "kernel {:?}, stride {:?} and dilation {:?} must be positive",
            p.kernel, p.stride, p.dilation
        ));
    }
    let out = |axis: usize, len: usize| {
        let pads = p.padding[axis].checked_add(p.padding[axis + 2])?;
        let mut n = window_out(
            len,
            p.kernel[axis],
            p.stride[axis],
            pads,
            p.dilation[axis],
            p.ceil_mode,
        )?;
        // PyTorch and ONNX drop a last window that would start inside the end padding.
        if p.ceil_mode
            && (n - 1).saturating_mul(p.stride[axis]) >= len.saturating_add(p.padding[axis])
        {
            n -= 1;
        }
        Some(n)
    };
    match (out(0, *h), out(1, *w)) {
        (Some(oh), Some(ow)) => Ok(vec![*c, oh, ow]),
        _ => Err(format!(
            "window {:?} does not fit input {x:?} with padding {:?}",
            p.kernel, p.padding
        )),
    }
}

/// Output length of a sliding window, or `None` if not even one window fits.
fn window_out(
    len: usize,
    kernel: usize,
    stride: usize,
    pads: usize,
    dilation: usize,
    ceil: bool,
) -> Option<usize> {
    let span = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let room = len.checked_add(pads)?.checked_sub(span)?;
    let steps = if ceil {
        room.div_ceil(stride)
    } else {
        room / stride
    };
    Some(steps + 1)
}

/// NumPy broadcasting of two per-sample shapes.
pub(crate) fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
    let rank = a.len().max(b.len());
    let dim = |s: &Shape, i: usize| {
        if i + s.len() >= rank {
            s[i + s.len() - rank]
        } else {
            1
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}
