//! What the ONNX operator spec allows of each op shears imports, by opset: how many inputs and
//! outputs a node has, and which attributes of which type. ONNX Runtime refuses a node outside
//! its op's schema, so shears refuses it at import, naming the node, instead of accepting a file
//! that no runtime loads (or only finding out when the pruned model is exported).
//!
//! The table follows `onnx/docs/Operators.md` (onnx 1.23): one [`Version`] per change of an
//! op's inputs, outputs or attributes; the one in force is the last with `since <= opset`.

use crate::OnnxError;
use crate::proto::NodeProto;
use crate::proto::attribute_proto::AttributeType;
use AttributeType::{
    Float as F, Floats as FS, Int as I, Ints as IS, SparseTensor as SP, String as S, Strings as SS,
    Tensor as T,
};
use std::collections::HashSet;

/// No upper bound on a variadic input or output count.
const MANY: usize = usize::MAX;

/// One version of an op's schema, in force from opset `since` until the next version.
struct Version {
    since: i64,
    inputs: (usize, usize),
    outputs: (usize, usize),
    attributes: &'static [(&'static str, AttributeType)],
}

/// A version with `inputs` and one output.
const fn v(
    since: i64,
    inputs: (usize, usize),
    attributes: &'static [(&'static str, AttributeType)],
) -> Version {
    Version {
        since,
        inputs,
        outputs: (1, 1),
        attributes,
    }
}

/// A version with `inputs` and `outputs`.
const fn vo(
    since: i64,
    inputs: (usize, usize),
    outputs: (usize, usize),
    attributes: &'static [(&'static str, AttributeType)],
) -> Version {
    Version {
        since,
        inputs,
        outputs,
        attributes,
    }
}

const ONE: (usize, usize) = (1, 1);
const TWO: (usize, usize) = (2, 2);
/// `consumed_inputs`, an attribute of many ops before opset 6.
const LEGACY: &[(&str, AttributeType)] = &[("consumed_inputs", IS)];
const POOL_1: &[(&str, AttributeType)] = &[
    ("auto_pad", S),
    ("kernel_shape", IS),
    ("pads", IS),
    ("strides", IS),
];
const BINARY_1: &[(&str, AttributeType)] =
    &[("axis", I), ("broadcast", I), ("consumed_inputs", IS)];
const BINARY_6: &[(&str, AttributeType)] = &[("axis", I), ("broadcast", I)];

const RESIZE_11: &[(&str, AttributeType)] = &[
    ("coordinate_transformation_mode", S),
    ("cubic_coeff_a", F),
    ("exclude_outside", I),
    ("extrapolation_value", F),
    ("mode", S),
    ("nearest_mode", S),
];
const RESIZE_18: &[(&str, AttributeType)] = &[
    ("antialias", I),
    ("axes", IS),
    ("coordinate_transformation_mode", S),
    ("cubic_coeff_a", F),
    ("exclude_outside", I),
    ("extrapolation_value", F),
    ("keep_aspect_ratio_policy", S),
    ("mode", S),
    ("nearest_mode", S),
];

/// An element-wise binary op (`Add`, `Sub`, `Mul`, `Div`).
const BINARY: &[Version] = &[v(1, TWO, BINARY_1), v(6, TWO, BINARY_6), v(7, TWO, &[])];
/// An activation without attributes since opset 6 (`Relu`, `Sigmoid`, `Tanh`).
const ACTIVATION: &[Version] = &[v(1, ONE, LEGACY), v(6, ONE, &[])];

/// The versions of `op_type`'s schema, `None` for an op shears does not import.
fn versions(op_type: &str) -> Option<&'static [Version]> {
    Some(match op_type {
        "Conv" => {
            const {
                &[v(
                    1,
                    (2, 3),
                    &[
                        ("auto_pad", S),
                        ("dilations", IS),
                        ("group", I),
                        ("kernel_shape", IS),
                        ("pads", IS),
                        ("strides", IS),
                    ],
                )]
            }
        }
        "ConvTranspose" => {
            const {
                &[v(
                    1,
                    (2, 3),
                    &[
                        ("auto_pad", S),
                        ("dilations", IS),
                        ("group", I),
                        ("kernel_shape", IS),
                        ("output_padding", IS),
                        ("output_shape", IS),
                        ("pads", IS),
                        ("strides", IS),
                    ],
                )]
            }
        }
        "BatchNormalization" => {
            const {
                &[
                    vo(
                        1,
                        (5, 5),
                        (1, 5),
                        &[
                            ("consumed_inputs", IS),
                            ("epsilon", F),
                            ("is_test", I),
                            ("momentum", F),
                            ("spatial", I),
                        ],
                    ),
                    vo(
                        6,
                        (5, 5),
                        (1, 5),
                        &[
                            ("epsilon", F),
                            ("is_test", I),
                            ("momentum", F),
                            ("spatial", I),
                        ],
                    ),
                    vo(
                        7,
                        (5, 5),
                        (1, 5),
                        &[("epsilon", F), ("momentum", F), ("spatial", I)],
                    ),
                    vo(9, (5, 5), (1, 5), &[("epsilon", F), ("momentum", F)]),
                    vo(
                        14,
                        (5, 5),
                        (1, 3),
                        &[("epsilon", F), ("momentum", F), ("training_mode", I)],
                    ),
                ]
            }
        }
        "Gemm" => {
            const {
                &[
                    v(
                        1,
                        (3, 3),
                        &[
                            ("alpha", F),
                            ("beta", F),
                            ("broadcast", I),
                            ("transA", I),
                            ("transB", I),
                        ],
                    ),
                    v(
                        7,
                        (3, 3),
                        &[("alpha", F), ("beta", F), ("transA", I), ("transB", I)],
                    ),
                    v(
                        11,
                        (2, 3),
                        &[("alpha", F), ("beta", F), ("transA", I), ("transB", I)],
                    ),
                ]
            }
        }
        "MatMul" => const { &[v(1, TWO, &[])] },
        "Relu" | "Sigmoid" | "Tanh" => ACTIVATION,
        "Clip" => {
            const {
                &[
                    v(1, ONE, &[("consumed_inputs", IS), ("max", F), ("min", F)]),
                    v(6, ONE, &[("max", F), ("min", F)]),
                    v(11, (1, 3), &[]),
                ]
            }
        }
        "LeakyRelu" => {
            const {
                &[
                    v(1, ONE, &[("alpha", F), ("consumed_inputs", IS)]),
                    v(6, ONE, &[("alpha", F)]),
                ]
            }
        }
        "HardSigmoid" => {
            const {
                &[
                    v(
                        1,
                        ONE,
                        &[("alpha", F), ("beta", F), ("consumed_inputs", IS)],
                    ),
                    v(6, ONE, &[("alpha", F), ("beta", F)]),
                ]
            }
        }
        "HardSwish" => const { &[v(14, ONE, &[])] },
        "Erf" => const { &[v(9, ONE, &[])] },
        "Sqrt" => ACTIVATION,
        "Pow" => const { &[v(1, TWO, &[("axis", I), ("broadcast", I)]), v(7, TWO, &[])] },
        "LayerNormalization" => {
            const {
                &[vo(
                    17,
                    (2, 3),
                    (1, 3),
                    &[("axis", I), ("epsilon", F), ("stash_type", I)],
                )]
            }
        }
        "Gelu" => const { &[v(20, ONE, &[("approximate", S)])] },
        "MaxPool" => {
            const {
                &[
                    v(1, ONE, POOL_1),
                    vo(
                        8,
                        ONE,
                        (1, 2),
                        &[
                            ("auto_pad", S),
                            ("kernel_shape", IS),
                            ("pads", IS),
                            ("storage_order", I),
                            ("strides", IS),
                        ],
                    ),
                    vo(
                        10,
                        ONE,
                        (1, 2),
                        &[
                            ("auto_pad", S),
                            ("ceil_mode", I),
                            ("dilations", IS),
                            ("kernel_shape", IS),
                            ("pads", IS),
                            ("storage_order", I),
                            ("strides", IS),
                        ],
                    ),
                ]
            }
        }
        "AveragePool" => {
            const {
                &[
                    v(1, ONE, POOL_1),
                    v(
                        7,
                        ONE,
                        &[
                            ("auto_pad", S),
                            ("count_include_pad", I),
                            ("kernel_shape", IS),
                            ("pads", IS),
                            ("strides", IS),
                        ],
                    ),
                    v(
                        10,
                        ONE,
                        &[
                            ("auto_pad", S),
                            ("ceil_mode", I),
                            ("count_include_pad", I),
                            ("kernel_shape", IS),
                            ("pads", IS),
                            ("strides", IS),
                        ],
                    ),
                    v(
                        19,
                        ONE,
                        &[
                            ("auto_pad", S),
                            ("ceil_mode", I),
                            ("count_include_pad", I),
                            ("dilations", IS),
                            ("kernel_shape", IS),
                            ("pads", IS),
                            ("strides", IS),
                        ],
                    ),
                ]
            }
        }
        "GlobalAveragePool" | "Identity" => const { &[v(1, ONE, &[])] },
        "Flatten" | "Softmax" => const { &[v(1, ONE, &[("axis", I)])] },
        "Reshape" => {
            const {
                &[
                    v(1, ONE, &[("consumed_inputs", IS), ("shape", IS)]),
                    v(5, TWO, &[]),
                    v(14, TWO, &[("allowzero", I)]),
                ]
            }
        }
        "Add" | "Sub" | "Mul" | "Div" => BINARY,
        "Sum" => const { &[v(1, (1, MANY), LEGACY), v(6, (1, MANY), &[])] },
        "Split" => {
            const {
                &[
                    vo(1, (1, 2), (1, MANY), &[("axis", I), ("split", IS)]),
                    vo(2, ONE, (1, MANY), &[("axis", I), ("split", IS)]),
                    vo(13, (1, 2), (1, MANY), &[("axis", I)]),
                    vo(18, (1, 2), (1, MANY), &[("axis", I), ("num_outputs", I)]),
                ]
            }
        }
        "Slice" => {
            const {
                &[
                    v(1, ONE, &[("axes", IS), ("ends", IS), ("starts", IS)]),
                    v(10, (3, 5), &[]),
                ]
            }
        }
        "Pad" => {
            const {
                &[
                    v(1, ONE, &[("mode", S), ("paddings", IS), ("value", F)]),
                    v(2, ONE, &[("mode", S), ("pads", IS), ("value", F)]),
                    v(11, (2, 3), &[("mode", S)]),
                    v(18, (2, 4), &[("mode", S)]),
                ]
            }
        }
        "ReduceMean" => {
            const {
                &[
                    v(1, ONE, &[("axes", IS), ("keepdims", I)]),
                    v(18, (1, 2), &[("keepdims", I), ("noop_with_empty_axes", I)]),
                ]
            }
        }
        "Resize" => {
            const {
                &[
                    v(10, TWO, &[("mode", S)]),
                    v(11, (3, 4), RESIZE_11),
                    v(13, (1, 4), RESIZE_11),
                    v(18, (1, 4), RESIZE_18),
                ]
            }
        }
        "Upsample" => {
            const {
                &[
                    v(7, ONE, &[("mode", S), ("scales", FS)]),
                    v(9, TWO, &[("mode", S)]),
                ]
            }
        }
        "LRN" => {
            const {
                &[v(
                    1,
                    ONE,
                    &[("alpha", F), ("beta", F), ("bias", F), ("size", I)],
                )]
            }
        }
        "Gather" => const { &[v(1, TWO, &[("axis", I)])] },
        "Squeeze" => const { &[v(1, ONE, &[("axes", IS)]), v(13, (1, 2), &[])] },
        "Unsqueeze" => const { &[v(1, ONE, &[("axes", IS)]), v(13, TWO, &[])] },
        "Concat" => const { &[v(1, (1, MANY), &[("axis", I)])] },
        "Dropout" => {
            const {
                &[
                    vo(
                        1,
                        ONE,
                        (1, 2),
                        &[("consumed_inputs", IS), ("is_test", I), ("ratio", F)],
                    ),
                    vo(6, ONE, (1, 2), &[("is_test", I), ("ratio", F)]),
                    vo(7, ONE, (1, 2), &[("ratio", F)]),
                    vo(12, (1, 3), (1, 2), &[("seed", I)]),
                ]
            }
        }
        "Constant" => {
            const {
                &[
                    v(1, (0, 0), &[("value", T)]),
                    v(11, (0, 0), &[("sparse_value", SP), ("value", T)]),
                    v(
                        12,
                        (0, 0),
                        &[
                            ("sparse_value", SP),
                            ("value", T),
                            ("value_float", F),
                            ("value_floats", FS),
                            ("value_int", I),
                            ("value_ints", IS),
                            ("value_string", S),
                            ("value_strings", SS),
                        ],
                    ),
                ]
            }
        }
        "ConstantOfShape" => const { &[v(9, ONE, &[("value", T)])] },
        "Shape" => const { &[v(1, ONE, &[]), v(15, ONE, &[("end", I), ("start", I)])] },
        "Cast" => {
            const {
                &[
                    v(1, ONE, &[("to", S)]),
                    v(6, ONE, &[("to", I)]),
                    v(19, ONE, &[("saturate", I), ("to", I)]),
                    v(24, ONE, &[("round_mode", S), ("saturate", I), ("to", I)]),
                ]
            }
        }
        "Transpose" => const { &[v(1, ONE, &[("perm", IS)])] },
        _ => return None,
    })
}

/// Fails when `node` (IR name `name`) is not a node of its op's schema in `opset`: an op that
/// does not exist yet, too few or too many inputs or outputs, an attribute the op does not
/// define, one of another type or listed twice, or a float attribute that is not finite.
pub(crate) fn check(node: &NodeProto, name: &str, opset: i64) -> Result<(), OnnxError> {
    let op = node.op_type.as_str();
    let fail = |detail: String| OnnxError::Node {
        node: name.to_string(),
        op: op.to_string(),
        detail,
    };
    let Some(versions) = versions(op) else {
        return Ok(());
    };
    let Some(schema) = versions.iter().rev().find(|v| v.since <= opset) else {
        return Err(fail(format!(
            "{op} does not exist in opset {opset} (it was added in opset {}): re-export the \
             model with opset {} or later",
            versions[0].since, versions[0].since
        )));
    };
    arity(node, name, opset, "input", node.input.len(), schema.inputs)?;
    arity(
        node,
        name,
        opset,
        "output",
        node.output.len(),
        schema.outputs,
    )?;
    let mut seen = HashSet::new();
    for a in &node.attribute {
        if !seen.insert(a.name.as_str()) {
            return Err(fail(format!("attribute '{}' is given twice", a.name)));
        }
        let Some(&(_, kind)) = schema.attributes.iter().find(|(n, _)| *n == a.name) else {
            return Err(OnnxError::UnknownAttribute {
                node: name.to_string(),
                op: op.to_string(),
                attribute: a.name.clone(),
                opset,
                known: schema.attributes.iter().map(|(n, _)| *n).collect(),
            });
        };
        if a.r#type != kind as i32 {
            return Err(fail(format!(
                "attribute '{}' must be {}, not {}",
                a.name,
                kind_name(kind as i32),
                kind_name(a.r#type)
            )));
        }
        if let Some(f) = a.f.filter(|f| !f.is_finite() && kind == F) {
            // Clip's bounds may be infinite: no bound on that side.
            if f.is_nan() || op != "Clip" {
                return Err(fail(format!(
                    "attribute '{}' is {f}; it must be a finite number",
                    a.name
                )));
            }
        }
    }
    Ok(())
}

/// Fails when `count` inputs or outputs are outside `range`.
fn arity(
    node: &NodeProto,
    name: &str,
    opset: i64,
    what: &'static str,
    count: usize,
    (min, max): (usize, usize),
) -> Result<(), OnnxError> {
    if (min..=max).contains(&count) {
        return Ok(());
    }
    Err(OnnxError::Arity {
        node: name.to_string(),
        op: node.op_type.clone(),
        what,
        count,
        min,
        max,
        opset,
    })
}

/// "an int", "a list of floats", ... for messages.
fn kind_name(code: i32) -> &'static str {
    match AttributeType::try_from(code) {
        Ok(F) => "a float",
        Ok(I) => "an int",
        Ok(S) => "a string",
        Ok(T) => "a tensor",
        Ok(SP) => "a sparse tensor",
        Ok(FS) => "a list of floats",
        Ok(IS) => "a list of ints",
        Ok(SS) => "a list of strings",
        Ok(AttributeType::Undefined) => "of undefined type",
        _ => "of another type",
    }
}
