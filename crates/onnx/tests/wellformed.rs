//! Files that ONNX Runtime refuses are refused at import, with one error naming the value or
//! node: values defined twice, graph outputs listed twice, nodes outside their op's schema
//! (attributes the op does not define in the model's opset, of another type or given twice;
//! too many or too few inputs or outputs; an op that does not exist yet), non-finite weights,
//! and graphs that shears could not write back.
//!
//! What ONNX Runtime 1.x does was checked with small models written by `onnx.helper` and
//! loaded by `onnxruntime.InferenceSession` (onnxruntime 1.x, onnx 1.23): it refuses
//! "Duplicate definition of name (y)" for two nodes writing `y` or a node writing an
//! initializer or graph input, "Unrecognized attribute: foo for operator Relu", "Unrecognized
//! attribute: min for operator Clip" at opset 13, "Node with schema(::Relu:14) has input size
//! 2 not in range [min=1, max=1]" (also when the extra input is empty), "Mismatched attribute
//! type", "Attribute 'alpha' appeared multiple times", "No Op registered for HardSwish with
//! domain_version of 13". It accepts, and shears refuses as garbage: duplicate graph outputs,
//! duplicate initializers ("the model will use the latest encountered initializer"), a
//! `Constant` with two value attributes (onnx.checker refuses it), NaN weights and attributes.

mod common;

use common::*;
use shears_onnx::OnnxError;
use shears_onnx::from_model;
use shears_onnx::proto::ModelProto;

fn err(m: &ModelProto) -> OnnxError {
    from_model(m).expect_err("the model should be refused")
}

fn x() -> shears_onnx::proto::ValueInfoProto {
    value("x", &[None, Some(2), Some(4), Some(4)])
}

fn y() -> shears_onnx::proto::ValueInfoProto {
    value("y", &[])
}

fn relu_then(second: shears_onnx::proto::NodeProto) -> ModelProto {
    model(
        17,
        vec![node("Relu", "r", &["x"], &["a"], vec![]), second],
        vec![float_data("w", &[1], &[1.0])],
        vec![x()],
        vec![y()],
    )
}

#[test]
fn two_nodes_writing_one_value_are_refused() {
    let m = model(
        17,
        vec![
            node("Relu", "r", &["x"], &["a"], vec![]),
            node("Sigmoid", "s", &["x"], &["a"], vec![]),
            node("Relu", "out", &["a"], &["y"], vec![]),
        ],
        vec![],
        vec![x()],
        vec![y()],
    );
    let e = err(&m);
    assert!(
        matches!(&e, OnnxError::DuplicateValue { name, .. } if name == "a"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "value 'a' is defined twice, by node 'r' (Relu) and by node 's' (Sigmoid): each value \
         must have one definition; rename one of them or re-export the model"
    );
}

#[test]
fn a_node_output_shadowing_an_initializer_or_a_graph_input_is_refused() {
    let e = err(&relu_then(node("Sigmoid", "s", &["a"], &["w"], vec![])));
    assert!(
        e.to_string()
            .starts_with("value 'w' is defined twice, by an initializer and by node 's' (Sigmoid)"),
        "{e}"
    );
    let e = err(&relu_then(node("Sigmoid", "s", &["a"], &["x"], vec![])));
    assert!(
        e.to_string()
            .starts_with("value 'x' is defined twice, by a graph input and by node 's' (Sigmoid)"),
        "{e}"
    );
    // Empty names of omitted optional outputs are no definitions.
    let m = model(
        17,
        vec![
            node("Dropout", "d1", &["x"], &["a", ""], vec![]),
            node("Dropout", "d2", &["a"], &["y", ""], vec![]),
        ],
        vec![],
        vec![x()],
        vec![y()],
    );
    assert!(from_model(&m).is_ok());
}

#[test]
fn duplicate_initializers_graph_inputs_and_graph_outputs_are_refused() {
    let mut m = relu_then(node("Relu", "r2", &["a"], &["y"], vec![]));
    let g = m.graph.as_mut().unwrap();
    g.initializer.push(float_data("w", &[1], &[2.0]));
    let e = err(&m).to_string();
    assert!(
        e.starts_with("value 'w' is defined twice, by an initializer and by an initializer"),
        "{e}"
    );

    let mut m = relu_then(node("Relu", "r2", &["a"], &["y"], vec![]));
    m.graph.as_mut().unwrap().input.push(x());
    let e = err(&m).to_string();
    assert!(
        e.starts_with("value 'x' is defined twice, by a graph input and by another graph input"),
        "{e}"
    );

    let mut m = relu_then(node("Relu", "r2", &["a"], &["y"], vec![]));
    m.graph.as_mut().unwrap().output.push(y());
    assert_eq!(
        err(&m).to_string(),
        "graph output 'y': is listed twice; list each graph output once"
    );

    // A graph output that names an initializer is not computed from the input.
    let mut m = relu_then(node("Relu", "r2", &["a"], &["y"], vec![]));
    m.graph.as_mut().unwrap().output.push(value("w", &[]));
    assert_eq!(
        err(&m).to_string(),
        "graph output 'w': is a constant; shears needs an output computed from the input"
    );
}

#[test]
fn attributes_the_op_does_not_define_are_refused() {
    let e = err(&relu_then(node(
        "Relu",
        "r2",
        &["a"],
        &["y"],
        vec![attr_int("foo", 1)],
    )));
    assert!(
        matches!(&e, OnnxError::UnknownAttribute { attribute, .. } if attribute == "foo"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "node 'r2' (Relu) has attribute 'foo', which Relu does not define in opset 17 (it has \
         no attributes); ONNX Runtime refuses it too: remove the attribute or re-export the model"
    );
    let conv = model(
        17,
        vec![node(
            "Conv",
            "c",
            &["x", "w"],
            &["y"],
            vec![attr_ints("strides", &[1, 1]), attr_int("padding", 1)],
        )],
        vec![float_data("w", &[2, 2, 1, 1], &[1.0; 4])],
        vec![x()],
        vec![y()],
    );
    assert!(
        err(&conv).to_string().contains(
            "(it defines 'auto_pad', 'dilations', 'group', 'kernel_shape', 'pads' and 'strides')"
        ),
        "{}",
        err(&conv)
    );
}

#[test]
fn attributes_of_another_opset_are_refused() {
    // Clip's bounds became inputs in opset 11; BN lost `spatial` in 9; Dropout's ratio became
    // an input in 12.
    let clip = |opset| {
        model(
            opset,
            vec![node(
                "Clip",
                "clip",
                &["x"],
                &["y"],
                vec![attr_float("min", 0.0)],
            )],
            vec![],
            vec![x()],
            vec![y()],
        )
    };
    let e = err(&clip(13)).to_string();
    assert!(
        e.starts_with(
            "node 'clip' (Clip) has attribute 'min', which Clip does not define in opset 13"
        ),
        "{e}"
    );
    assert!(from_model(&clip(10)).is_ok());
    let e = err(&relu_then(node(
        "Dropout",
        "d",
        &["a"],
        &["y"],
        vec![attr_float("ratio", 0.5)],
    )));
    assert!(matches!(e, OnnxError::UnknownAttribute { .. }), "{e:?}");
}

#[test]
fn attributes_of_another_type_or_given_twice_are_refused() {
    let mut alpha = attr_float("alpha", 0.1);
    alpha.r#type = 7; // INTS, with a float value
    let e = err(&relu_then(node(
        "LeakyRelu",
        "lr",
        &["a"],
        &["y"],
        vec![alpha],
    )));
    assert_eq!(
        e.to_string(),
        "node 'lr' (LeakyRelu): attribute 'alpha' must be a float, not a list of ints"
    );
    let e = err(&relu_then(node(
        "LeakyRelu",
        "lr",
        &["a"],
        &["y"],
        vec![attr_float("alpha", 0.1), attr_float("alpha", 0.2)],
    )));
    assert_eq!(
        e.to_string(),
        "node 'lr' (LeakyRelu): attribute 'alpha' is given twice"
    );
}

#[test]
fn extra_or_missing_inputs_and_outputs_are_refused() {
    let e = err(&relu_then(node("Relu", "r2", &["a", "a"], &["y"], vec![])));
    assert!(
        matches!(
            &e,
            OnnxError::Arity {
                count: 2,
                min: 1,
                max: 1,
                what: "input",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "node 'r2' (Relu) has 2 inputs, but Relu takes 1 in opset 17: the file is malformed; \
         re-export the model"
    );
    // An empty name counts: ONNX Runtime refuses `Relu(a, "")` too.
    let e = err(&relu_then(node("Relu", "r2", &["a", ""], &["y"], vec![])));
    assert!(matches!(e, OnnxError::Arity { count: 2, .. }), "{e:?}");
    let e = err(&relu_then(node("Relu", "r2", &["a"], &["y", "z"], vec![])));
    assert!(
        e.to_string()
            .starts_with("node 'r2' (Relu) has 2 outputs, but Relu takes 1 in opset 17"),
        "{e}"
    );
    let conv = model(
        17,
        vec![node("Conv", "c", &["x", "w", "b", "b"], &["y"], vec![])],
        vec![
            float_data("w", &[2, 2, 1, 1], &[1.0; 4]),
            float_data("b", &[2], &[0.0; 2]),
        ],
        vec![x()],
        vec![y()],
    );
    assert!(
        err(&conv)
            .to_string()
            .starts_with("node 'c' (Conv) has 4 inputs, but Conv takes 2 or 3 in opset 17"),
        "{}",
        err(&conv)
    );
    // Gemm's C became optional in opset 11.
    let gemm = |opset| {
        model(
            opset,
            vec![node("Gemm", "fc", &["x", "w"], &["y"], vec![])],
            vec![float_data("w", &[2, 3], &[1.0; 6])],
            vec![value("x", &[None, Some(2)])],
            vec![y()],
        )
    };
    assert!(from_model(&gemm(11)).is_ok());
    assert!(
        err(&gemm(10))
            .to_string()
            .starts_with("node 'fc' (Gemm) has 2 inputs, but Gemm takes 3 in opset 10"),
        "{}",
        err(&gemm(10))
    );
}

#[test]
fn an_op_used_before_it_exists_is_refused() {
    let m = model(
        13,
        vec![node("HardSwish", "hs", &["x"], &["y"], vec![])],
        vec![],
        vec![x()],
        vec![y()],
    );
    assert_eq!(
        err(&m).to_string(),
        "node 'hs' (HardSwish): HardSwish does not exist in opset 13 (it was added in opset \
         14): re-export the model with opset 14 or later"
    );
}

#[test]
fn a_constant_has_exactly_one_value() {
    let m = relu_then(node(
        "Constant",
        "k",
        &[],
        &["k"],
        vec![attr_float("value_float", 1.0), attr_int("value_int", 2)],
    ));
    let e = err(&m).to_string();
    assert!(
        e.starts_with("node 'k' (Constant): a Constant has exactly one value attribute"),
        "{e}"
    );
}

#[test]
fn non_finite_weights_name_the_tensor_and_the_node() {
    let conv = |w: Vec<f32>, b: f32| {
        model(
            17,
            vec![node("Conv", "c", &["x", "cw", "cb"], &["y"], vec![])],
            vec![
                float_data("cw", &[2, 2, 1, 1], &w),
                raw_data("cb", &[2], &[0.0, b]),
            ],
            vec![x()],
            vec![y()],
        )
    };
    let e = err(&conv(vec![1.0, f32::NAN, 2.0, f32::NAN], 0.0));
    assert!(
        matches!(&e, OnnxError::NonFinite { tensor, node, index: 1, count: 2, .. }
            if tensor == "cw" && node == "c"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "tensor 'cw' (read by node 'c') holds NaN at index 1 (2 non-finite values in all): the \
         model is corrupt or diverged in training; use a finite checkpoint"
    );
    let e = err(&conv(vec![1.0; 4], f32::INFINITY));
    assert!(
        e.to_string()
            .starts_with("tensor 'cb' (read by node 'c') holds inf at index 1"),
        "{e}"
    );

    // A constant operand.
    let m = model(
        17,
        vec![node("Add", "a", &["x", "k"], &["y"], vec![])],
        vec![float_data("k", &[2, 1, 1], &[1.0, f32::NEG_INFINITY])],
        vec![x()],
        vec![y()],
    );
    let e = err(&m).to_string();
    assert!(
        e.starts_with("tensor 'k' (read by node 'a') holds -inf at index 1"),
        "{e}"
    );
    // A weight made infinite by Gemm's alpha: caught by Graph::check_finite on the imported
    // graph.
    let m = model(
        17,
        vec![node(
            "Gemm",
            "fc",
            &["x", "w"],
            &["y"],
            vec![attr_float("alpha", 1e30)],
        )],
        vec![float_data("w", &[2, 3], &[1e30; 6])],
        vec![value("x", &[None, Some(2)])],
        vec![y()],
    );
    let e = err(&m).to_string();
    assert!(
        e.starts_with("the imported graph is invalid: node 'fc': weight array 0 holds inf"),
        "{e}"
    );
}

#[test]
fn non_finite_attributes_are_refused_but_clip_bounds_may_be_infinite() {
    let e = err(&relu_then(node(
        "LeakyRelu",
        "lr",
        &["a"],
        &["y"],
        vec![attr_float("alpha", f32::NAN)],
    )));
    assert_eq!(
        e.to_string(),
        "node 'lr' (LeakyRelu): attribute 'alpha' is NaN; it must be a finite number"
    );
    let clip = |min: f32| {
        model(
            10,
            vec![node(
                "Clip",
                "clip",
                &["x"],
                &["y"],
                vec![attr_float("min", min), attr_float("max", f32::INFINITY)],
            )],
            vec![],
            vec![x()],
            vec![y()],
        )
    };
    assert!(from_model(&clip(f32::NEG_INFINITY)).is_ok());
    assert!(matches!(err(&clip(f32::NAN)), OnnxError::Node { .. }));
    // Opset 11 bounds are inputs: infinite is fine, NaN is not.
    let clip_inputs = |max: f32| {
        model(
            13,
            vec![node("Clip", "clip", &["x", "", "hi"], &["y"], vec![])],
            vec![raw_data("hi", &[], &[max])],
            vec![x()],
            vec![y()],
        )
    };
    assert!(from_model(&clip_inputs(f32::INFINITY)).is_ok());
    assert_eq!(
        err(&clip_inputs(f32::NAN)).to_string(),
        "node 'clip' (Clip): the max is NaN"
    );
}

/// One initializer read as a BN statistic and as an `Add` operand: shears would write two
/// values of that name, so the model is refused at import rather than when it is saved.
#[test]
fn a_model_that_could_not_be_written_back_is_refused() {
    let stat = |name: &str, v: f32| float_data(name, &[2], &[v, v]);
    let m = model(
        17,
        vec![
            node(
                "BatchNormalization",
                "bn",
                &[
                    "x",
                    "bn.weight",
                    "bn.bias",
                    "bn.running_mean",
                    "bn.running_var",
                ],
                &["b"],
                vec![],
            ),
            node("Add", "add", &["b", "bn.running_mean"], &["y"], vec![]),
        ],
        vec![
            stat("bn.weight", 1.0),
            stat("bn.bias", 0.0),
            stat("bn.running_mean", 0.5),
            stat("bn.running_var", 1.0),
        ],
        vec![value("x", &[None, Some(2)])],
        vec![y()],
    );
    let e = err(&m);
    assert!(matches!(e, OnnxError::Unwritable { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(
            "the model imports, but shears could not write it back as ONNX: node \
             'bn.running_mean': two values (outputs or weights) are named 'bn.running_mean'"
        ),
        "{e}"
    );
}
