//! Export: an IR [`Graph`] to an ONNX `ModelProto` (IR version 8).
//!
//! The opset is the one the graph was imported from, when it is one shears writes (11 to 21),
//! else 17; raised when an op needs a later one's semantics (see [`export_opset`]). Where an op
//! changed between opsets, the writer follows the opset it writes: Dropout's ratio is an
//! attribute before opset 12, and HardSwish, which arrived in opset 14, is written as
//! `HardSigmoid(alpha = 1/6, beta = 0.5)` times its input before that.
//!
//! Weights become float32 initializers named as PyTorch names its parameters (`conv1.weight`,
//! `bn1.running_mean`, ...). Op attributes map one to one, with two exceptions: BatchNorm's
//! momentum is written in ONNX's convention (`1 - pytorch`), and [`Op::Silu`], which ONNX lacks
//! at opset 17, becomes a `Sigmoid` node `{name}.sigmoid` and a `Mul` node `{name}` (importing
//! the file gives those two nodes back, which compute the same function). Scalar operands that
//! opset 17 takes as inputs (Clip's min and max, Dropout's ratio) become scalar initializers
//! `{name}.min`, `{name}.max` and `{name}.ratio`.

use crate::OnnxError;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::tensor_proto::DataType;
use crate::proto::tensor_shape_proto::{Dimension, dimension};
use crate::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, type_proto,
};
use crate::{momentum, tensor};
use shears_ir::{
    Array, Coordinates, Graph, Interpolation, LayerNorm, Node, Op, OutletId, PadMode, Pool2d,
    Resize, ResizeTarget, Rounding,
};
use std::collections::HashSet;

/// The ONNX opset shears writes (default domain) for a graph built here, or imported from an
/// opset outside [`WRITABLE_OPSETS`].
pub const OPSET_VERSION: i64 = 17;
/// The default-domain opsets the exporter can write.
pub const WRITABLE_OPSETS: std::ops::RangeInclusive<i64> = 11..=21;
/// The ONNX IR version shears writes.
pub const IR_VERSION: i64 = 8;
/// `ModelProto.producer_name` of files shears writes.
pub const PRODUCER_NAME: &str = "shears";

/// Builds the ONNX model of `graph`. Fails if the graph does not verify or has clashing value
/// names.
pub fn to_model(graph: &Graph) -> Result<ModelProto, OnnxError> {
    write(graph, true)
}

/// Fails where [`to_model`] would fail, without copying the weights: import calls it so that a
/// model shears accepts can always be written back.
pub(crate) fn check_writable(graph: &Graph) -> Result<(), OnnxError> {
    write(graph, false).map(drop)
}

/// The ONNX model of `graph`, with the weights' data if `with_data`.
fn write(graph: &Graph, with_data: bool) -> Result<ModelProto, OnnxError> {
    let fail = |detail: String| OnnxError::Export {
        graph: graph.name.clone(),
        detail,
    };
    graph.verify().map_err(|e| fail(e.to_string()))?;
    let shapes = graph.infer_shapes().map_err(|e| fail(e.to_string()))?;
    let opset = export_opset(graph, &shapes);
    let mut w = Writer {
        graph,
        shapes: &shapes,
        opset,
        proto: GraphProto::default(),
        names: HashSet::new(),
        with_data,
    };
    w.proto.name = graph.name.clone();

    let mut input_nodes: Vec<usize> = graph.inputs.clone();
    input_nodes.extend(
        (0..graph.nodes.len()).filter(|i| {
            matches!(graph.nodes[*i].op, Op::Input { .. }) && !graph.inputs.contains(i)
        }),
    );
    for &i in &input_nodes {
        let name = w.value_name(OutletId::new(i))?;
        w.claim(&name).map_err(fail)?;
        w.proto.input.push(value_info(&name, &shapes[i][0]));
    }
    for node in &graph.nodes {
        w.node(node)
            .map_err(|detail| fail(format!("node '{}': {detail}", node.name)))?;
    }
    for &out in &graph.outputs {
        let name = w.value_name(out)?;
        let shape = shapes
            .get(out.node)
            .and_then(|s| s.get(out.slot))
            .cloned()
            .unwrap_or_default();
        w.proto.output.push(value_info(&name, &shape));
    }
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: PRODUCER_NAME.into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(w.proto),
        ..ModelProto::default()
    })
}

/// The opset `graph` is written in: the one it was imported from if the exporter writes it
/// (else [`OPSET_VERSION`]), raised to 13 for a softmax over an axis followed by others of
/// size > 1 (before 13, Softmax flattened every axis from `axis` on), to 19 for an average
/// pool with dilation, to 17 for `LayerNormalization` and to 20 for `Gelu`.
pub fn export_opset(graph: &Graph, shapes: &[Vec<Vec<usize>>]) -> i64 {
    let source = graph
        .onnx_opset
        .filter(|v| WRITABLE_OPSETS.contains(v))
        .unwrap_or(OPSET_VERSION);
    let needs = graph.nodes.iter().map(|node| match &node.op {
        Op::Softmax { axis } => {
            let input = &shapes[node.inputs[0].node][node.inputs[0].slot];
            let trailing = input.get(*axis..).unwrap_or_default();
            if trailing.iter().all(|&d| d == 1) {
                0
            } else {
                13
            }
        }
        Op::AvgPool2d(p) if p.dilation != [1, 1] => 19,
        Op::Gelu { .. } => 20,
        Op::LayerNorm(_) => 17,
        _ => 0,
    });
    needs.fold(source, i64::max)
}

/// A float32 value `[N, shape...]` with a symbolic batch axis `N`.
fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let batch = Dimension {
        value: Some(dimension::Value::DimParam("N".into())),
        ..Dimension::default()
    };
    let dims = shape.iter().map(|&d| Dimension {
        value: Some(dimension::Value::DimValue(d as i64)),
        ..Dimension::default()
    });
    let tensor = type_proto::Tensor {
        elem_type: DataType::Float as i32,
        shape: Some(TensorShapeProto {
            dim: std::iter::once(batch).chain(dims).collect(),
        }),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: Some(value),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Float as i32,
        f: Some(value),
        ..Default::default()
    }
}

/// Collects the ONNX graph, checking that every value name is used once.
struct Writer<'g> {
    graph: &'g Graph,
    /// The per-sample shape of every node's outputs.
    shapes: &'g [Vec<Vec<usize>>],
    /// The opset written.
    opset: i64,
    proto: GraphProto,
    names: HashSet<String>,
    /// Whether initializers get their data (else only names and shapes are written).
    with_data: bool,
}

impl Writer<'_> {
    /// The tensor name of an outlet.
    fn value_name(&self, outlet: OutletId) -> Result<String, OnnxError> {
        let node = &self.graph.nodes[outlet.node];
        node.outputs
            .get(outlet.slot)
            .cloned()
            .ok_or_else(|| OnnxError::Export {
                graph: self.graph.name.clone(),
                detail: format!(
                    "node '{}' has no name for its output {}",
                    node.name, outlet.slot
                ),
            })
    }

    fn claim(&mut self, name: &str) -> Result<(), String> {
        if name.is_empty() || !self.names.insert(name.to_string()) {
            return Err(format!(
                "two values (outputs or weights) are named '{name}': ONNX value names must be unique and non-empty"
            ));
        }
        Ok(())
    }

    /// A float32 initializer named `name` holding `array` (without the data if not
    /// `with_data`).
    fn floats(&self, name: &str, array: &Array) -> TensorProto {
        let data: &[f32] = if self.with_data { &array.data } else { &[] };
        tensor::float_tensor(name, &array.shape, data)
    }

    /// Adds an initializer and returns its name.
    fn init(&mut self, tensor: TensorProto) -> Result<String, String> {
        self.claim(&tensor.name)?;
        let name = tensor.name.clone();
        self.proto.initializer.push(tensor);
        Ok(name)
    }

    fn weight(&mut self, node: &Node, suffix: &str, array: &Array) -> Result<String, String> {
        self.init(self.floats(&format!("{}.{suffix}", node.name), array))
    }

    /// The initializers `{node}.weight` and, if any, `{node}.bias`.
    fn weight_and_bias(
        &mut self,
        node: &Node,
        weight: &Array,
        bias: Option<&Array>,
    ) -> Result<Vec<String>, String> {
        let mut names = vec![self.weight(node, "weight", weight)?];
        if let Some(b) = bias {
            names.push(self.weight(node, "bias", b)?);
        }
        Ok(names)
    }

    fn indices(&mut self, node: &Node, suffix: &str, values: &[i64]) -> Result<String, String> {
        self.init(tensor::int_tensor(
            &format!("{}.{suffix}", node.name),
            &[values.len()],
            values,
        ))
    }

    fn scalar(&mut self, node: &Node, suffix: &str, value: f32) -> Result<String, String> {
        self.init(tensor::scalar(&format!("{}.{suffix}", node.name), value))
    }

    fn push(
        &mut self,
        name: &str,
        op_type: &str,
        input: Vec<String>,
        output: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> Result<(), String> {
        for out in &output {
            self.claim(out)?;
        }
        self.proto.node.push(NodeProto {
            name: name.into(),
            op_type: op_type.into(),
            input,
            output,
            attribute,
            ..NodeProto::default()
        });
        Ok(())
    }

    /// `x * gate(x)` as two nodes: the gate `{name}.{gate lowercased}` and a `Mul` called `name`
    /// (SiLU; HardSwish before opset 14).
    fn gated(
        &mut self,
        name: &str,
        gate_type: &str,
        attrs: Vec<AttributeProto>,
        mut input: Vec<String>,
        output: Vec<String>,
    ) -> Result<(), String> {
        let gate = format!("{name}.{}", gate_type.to_lowercase());
        self.push(&gate, gate_type, input.clone(), vec![gate.clone()], attrs)?;
        input.push(gate);
        self.push(name, "Mul", input, output, vec![])
    }

    /// Writes one IR node as ONNX nodes and initializers.
    fn node(&mut self, node: &Node) -> Result<(), String> {
        let mut input = Vec::with_capacity(node.inputs.len() + 2);
        for &outlet in &node.inputs {
            input.push(self.value_name(outlet).map_err(|e| e.to_string())?);
        }
        let output = node.outputs.clone();
        let name = node.name.as_str();
        let op_type = node.op.type_name();
        let attrs = match &node.op {
            Op::Input { .. } => return Ok(()),
            Op::Constant { value } => {
                let tensor = self.floats(&output[0], value);
                return self.init(tensor).map(drop);
            }
            Op::PermuteChannels { order } => {
                let order: Vec<i64> = order.iter().map(|&c| c as i64).collect();
                input.push(self.indices(node, "indices", &order)?);
                vec![int("axis", 1)]
            }
            Op::Slice { axis, start, end } => {
                input.push(self.indices(node, "starts", &[*start as i64])?);
                input.push(self.indices(node, "ends", &[*end as i64])?);
                input.push(self.indices(node, "axes", &[*axis as i64])?);
                vec![]
            }
            Op::Pad { pads, mode } => {
                let [t, l, b, r] = pads.map(|p| p as i64);
                input.push(self.indices(node, "pads", &[0, 0, t, l, 0, 0, b, r])?);
                let mode = match mode {
                    PadMode::Constant(value) => {
                        input.push(self.scalar(node, "value", *value)?);
                        "constant"
                    }
                    PadMode::Reflect => "reflect",
                    PadMode::Edge => "edge",
                };
                vec![string("mode", mode)]
            }
            Op::Resize(r) => self.resize(node, r, &mut input)?,
            Op::Pow { exponent } => {
                input.push(self.scalar(node, "exponent", *exponent)?);
                vec![]
            }
            Op::ChannelMean if self.opset < 18 => vec![ints("axes", &[1]), int("keepdims", 1)],
            Op::ChannelMean => {
                input.push(self.indices(node, "axes", &[1])?);
                vec![int("keepdims", 1)]
            }
            Op::Lrn {
                size,
                alpha,
                beta,
                bias,
            } => vec![
                int("size", *size as i64),
                float("alpha", *alpha),
                float("beta", *beta),
                float("bias", *bias),
            ],
            Op::Conv2d(c) => {
                input.extend(self.weight_and_bias(node, &c.weight, c.bias.as_ref())?);
                let window = [c.kernel(), c.stride, c.dilation];
                window_attrs(window, &c.padding, None, c.groups)
            }
            Op::ConvTranspose2d(c) => {
                input.extend(self.weight_and_bias(node, &c.weight, c.bias.as_ref())?);
                let window = [c.kernel(), c.stride, c.dilation];
                window_attrs(window, &c.padding, Some(&c.output_padding), c.groups)
            }
            Op::BatchNorm2d(b) => {
                input.push(self.weight(node, "weight", &b.gamma)?);
                input.push(self.weight(node, "bias", &b.beta)?);
                input.push(self.weight(node, "running_mean", &b.mean)?);
                input.push(self.weight(node, "running_var", &b.var)?);
                vec![
                    float("epsilon", b.eps),
                    float("momentum", momentum::to_onnx(b.momentum)),
                ]
            }
            Op::LayerNorm(l) => return self.layer_norm(node, l, input, output),
            Op::Linear(l) => {
                input.extend(self.weight_and_bias(node, &l.weight, l.bias.as_ref())?);
                vec![float("alpha", 1.0), float("beta", 1.0), int("transB", 1)]
            }
            Op::Clip { min, max } => {
                input.push(self.scalar(node, "min", *min)?);
                input.push(self.scalar(node, "max", *max)?);
                vec![]
            }
            Op::LeakyRelu { alpha } => vec![float("alpha", *alpha)],
            Op::Gelu { tanh } => vec![string("approximate", if *tanh { "tanh" } else { "none" })],
            Op::HardSigmoid { alpha, beta } => vec![float("alpha", *alpha), float("beta", *beta)],
            Op::Silu => return self.gated(name, "Sigmoid", vec![], input, output),
            Op::MaxPool2d(p) => {
                let mut attrs = pool_attrs(p);
                attrs.push(ints("dilations", &p.dilation));
                attrs
            }
            Op::AvgPool2d(p) => {
                let mut attrs = pool_attrs(p);
                attrs.push(int("count_include_pad", p.count_include_pad as i64));
                if p.dilation != [1, 1] {
                    // `export_opset` chose 19 or later for it.
                    attrs.push(ints("dilations", &p.dilation));
                }
                attrs
            }
            Op::Flatten { axis } | Op::Concat { axis } | Op::Softmax { axis } => {
                vec![int("axis", *axis as i64)]
            }
            Op::Dropout { ratio } if self.opset < 12 => vec![float("ratio", *ratio)],
            Op::Dropout { ratio } => {
                input.push(self.scalar(node, "ratio", *ratio)?);
                vec![]
            }
            Op::HardSwish if self.opset < 14 => {
                let attrs = vec![float("alpha", 1.0 / 6.0), float("beta", 0.5)];
                return self.gated(name, "HardSigmoid", attrs, input, output);
            }
            Op::Relu
            | Op::Sigmoid
            | Op::HardSwish
            | Op::Tanh
            | Op::Erf
            | Op::Sqrt
            | Op::GlobalAvgPool
            | Op::Add
            | Op::Mul
            | Op::Sub
            | Op::Div
            | Op::Identity => vec![],
        };
        self.push(name, op_type, input, output, attrs)
    }
}

impl Writer<'_> {
    /// A layer norm over channels: `LayerNormalization` over the last axis, between transposes
    /// to channels-last and back for a feature map (as PyTorch's ConvNeXt writes it).
    fn layer_norm(
        &mut self,
        node: &Node,
        l: &LayerNorm,
        mut input: Vec<String>,
        output: Vec<String>,
    ) -> Result<(), String> {
        let name = node.name.as_str();
        let x = node.inputs[0];
        let map = self.shapes[x.node][x.slot].len() == 3;
        let attrs = vec![int("axis", -1), float("epsilon", l.eps)];
        if !map {
            input.push(self.weight(node, "scale", &l.scale)?);
            input.push(self.weight(node, "bias", &l.bias)?);
            return self.push(name, "LayerNormalization", input, output, attrs);
        }
        let last = format!("{name}.channels_last");
        let perm = |p: &[usize]| vec![ints("perm", p)];
        self.push(
            &last,
            "Transpose",
            input,
            vec![last.clone()],
            perm(&[0, 2, 3, 1]),
        )?;
        let normed = format!("{name}.normalised");
        let ln_input = vec![
            last,
            self.weight(node, "scale", &l.scale)?,
            self.weight(node, "bias", &l.bias)?,
        ];
        self.push(
            &normed,
            "LayerNormalization",
            ln_input,
            vec![normed.clone()],
            attrs,
        )?;
        self.push(name, "Transpose", vec![normed], output, perm(&[0, 3, 1, 2]))
    }

    /// `Resize`'s inputs after X (roi, then scales `[1, 1, h, w]` or sizes of axes 2 and 3)
    /// and its attributes.
    fn resize(
        &mut self,
        node: &Node,
        r: &Resize,
        input: &mut Vec<String>,
    ) -> Result<Vec<AttributeProto>, String> {
        // Before opset 13 `roi` must be a tensor, even an unused one.
        input.push(if self.opset < 13 {
            self.init(tensor::float_tensor(
                &format!("{}.roi", node.name),
                &[0],
                &[],
            ))?
        } else {
            String::new()
        });
        let mut attrs = Vec::new();
        match r.target {
            ResizeTarget::Scales([h, w]) => {
                let scales = Array::new(vec![4], vec![1.0, 1.0, h, w]);
                input.push(self.weight(node, "scales", &scales)?);
            }
            ResizeTarget::Sizes([h, w]) => {
                input.push(String::new());
                let spatial = self.indices(node, "sizes", &[h as i64, w as i64])?;
                if self.opset >= 18 {
                    input.push(spatial);
                    attrs.push(ints("axes", &[2, 3]));
                } else {
                    // Sizes of all four axes, the batch size read from the input.
                    input.push(self.full_sizes(node, &input[0], spatial)?);
                }
            }
        }
        let (mode, nearest) = match r.interpolation {
            Interpolation::Linear => ("linear", None),
            Interpolation::Nearest(rounding) => ("nearest", Some(rounding)),
        };
        attrs.push(string("mode", mode));
        if let Some(rounding) = nearest {
            let name = match rounding {
                Rounding::RoundPreferFloor => "round_prefer_floor",
                Rounding::RoundPreferCeil => "round_prefer_ceil",
                Rounding::Floor => "floor",
                Rounding::Ceil => "ceil",
            };
            attrs.push(string("nearest_mode", name));
        }
        let coordinates = match r.coordinates {
            Coordinates::HalfPixel => "half_pixel",
            Coordinates::PytorchHalfPixel => "pytorch_half_pixel",
            Coordinates::AlignCorners => "align_corners",
            Coordinates::Asymmetric => "asymmetric",
            Coordinates::TfHalfPixelForNn => "tf_half_pixel_for_nn",
        };
        attrs.push(string("coordinate_transformation_mode", coordinates));
        Ok(attrs)
    }

    /// `Concat(Shape(x)[0..2], spatial)`: the sizes of `x`'s batch and channel axes followed by
    /// `spatial`, for a `Resize` before opset 18 (which has no `axes`).
    fn full_sizes(&mut self, node: &Node, x: &str, spatial: String) -> Result<String, String> {
        let name = &node.name;
        let shape = format!("{name}.shape");
        self.push(&shape, "Shape", vec![x.into()], vec![shape.clone()], vec![])?;
        let leading = format!("{name}.leading");
        let slice = vec![
            shape,
            self.indices(node, "leading_start", &[0])?,
            self.indices(node, "leading_end", &[2])?,
        ];
        self.push(&leading, "Slice", slice, vec![leading.clone()], vec![])?;
        let sizes = format!("{name}.full_sizes");
        self.push(
            &sizes,
            "Concat",
            vec![leading, spatial],
            vec![sizes.clone()],
            vec![int("axis", 0)],
        )?;
        Ok(sizes)
    }
}

/// A convolution's attributes: `[kernel, strides, dilations]`, pads, the output padding of a
/// transposed one, groups.
fn window_attrs(
    [kernel, strides, dilations]: [[usize; 2]; 3],
    pads: &[usize; 4],
    output_padding: Option<&[usize; 2]>,
    groups: usize,
) -> Vec<AttributeProto> {
    let mut attrs = vec![
        ints("kernel_shape", &kernel),
        ints("strides", &strides),
        ints("pads", pads),
        ints("dilations", &dilations),
        int("group", groups as i64),
    ];
    if let Some(p) = output_padding {
        attrs.push(ints("output_padding", p));
    }
    attrs
}

fn pool_attrs(p: &Pool2d) -> Vec<AttributeProto> {
    vec![
        ints("kernel_shape", &p.kernel),
        ints("strides", &p.stride),
        ints("pads", &p.padding),
        int("ceil_mode", p.ceil_mode as i64),
    ]
}
