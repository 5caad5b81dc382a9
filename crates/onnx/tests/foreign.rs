//! Files as other exporters write them: Gemm without transB, float_data and Constant weights,
//! initializers listed as inputs, old-opset attributes, auto_pad, Reshape-as-flatten, MatMul,
//! negative axes, unnamed and duplicate nodes.

mod common;

use common::*;
use shears_ir::{Array, Graph, Op, OutletId};
use shears_onnx::from_model;

fn op(g: &Graph, name: &str) -> Op {
    let i = g
        .node_by_name(name)
        .unwrap_or_else(|| panic!("no node '{name}' in {:?}", names(g)));
    g.nodes[i].op.clone()
}

fn names(g: &Graph) -> Vec<&str> {
    g.nodes.iter().map(|n| n.name.as_str()).collect()
}

#[test]
fn gemm_without_trans_b_and_with_alpha_beta_is_folded_into_a_linear_layer() {
    let b = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // [in 3, out 2]
    for (c_dims, c) in [
        (vec![2], vec![10.0, 20.0]),
        (vec![1, 2], vec![10.0, 20.0]),
        (vec![1], vec![10.0]),
    ] {
        let m = model(
            17,
            vec![node(
                "Gemm",
                "fc",
                &["x", "B", "C"],
                &["y"],
                vec![attr_float("alpha", 2.0), attr_float("beta", 0.5)],
            )],
            vec![float_data("B", &[3, 2], &b), float_data("C", &c_dims, &c)],
            vec![value("x", &[None, Some(3)])],
            vec![value("y", &[None, Some(2)])],
        );
        let g = from_model(&m).unwrap();
        let Op::Linear(l) = op(&g, "fc") else {
            panic!()
        };
        assert_eq!(
            l.weight,
            Array::new(vec![2, 3], vec![2.0, 6.0, 10.0, 4.0, 8.0, 12.0])
        );
        let expected = if c.len() == 2 {
            vec![5.0, 10.0]
        } else {
            vec![5.0, 5.0]
        };
        assert_eq!(l.bias, Some(Array::new(vec![2], expected)));
    }
}

#[test]
fn old_style_files_import() {
    // opset 10: Clip and Dropout take attributes; weights in float_data, one from a Constant
    // node; initializers also listed as graph inputs; unnamed and duplicate node names.
    let w: Vec<f32> = (0..2 * 3 * 3 * 3).map(|i| i as f32 / 10.0).collect();
    let m = model(
        10,
        vec![
            node(
                "Constant",
                "",
                &[],
                &["w"],
                vec![attr_tensor("value", float_data("", &[2, 3, 3, 3], &w))],
            ),
            node(
                "Conv",
                "",
                &["x", "w", "b"],
                &["c"],
                vec![attr_ints("pads", &[1, 1, 1, 1])],
            ),
            node(
                "Clip",
                "act",
                &["c"],
                &["r"],
                vec![attr_float("min", 0.0), attr_float("max", 6.0)],
            ),
            node(
                "Dropout",
                "act",
                &["r"],
                &["d", "mask"],
                vec![attr_float("ratio", 0.25)],
            ),
            node("GlobalAveragePool", "", &["d"], &["p"], vec![]),
            node("Flatten", "", &["p"], &["f"], vec![]),
        ],
        vec![float_data("b", &[2], &[0.5, -0.5])],
        vec![
            value("x", &[Some(1), Some(3), Some(4), Some(4)]),
            value("b", &[Some(2)]),
        ],
        vec![value("f", &[Some(1), Some(2)])],
    );
    let g = from_model(&m).unwrap();
    assert_eq!(
        names(&g),
        [
            "x",
            "Conv_1",
            "act",
            "act_1",
            "GlobalAveragePool_4",
            "Flatten_5"
        ]
    );
    assert_eq!(g.inputs, [0]);
    assert_eq!(g.input_shape(), Some(&[3, 4, 4][..]));
    let Op::Conv2d(c) = op(&g, "Conv_1") else {
        panic!()
    };
    assert_eq!(c.weight, Array::new(vec![2, 3, 3, 3], w));
    assert_eq!(c.bias, Some(Array::new(vec![2], vec![0.5, -0.5])));
    assert_eq!(c.padding, [1; 4]);
    assert_eq!(op(&g, "act"), Op::Clip { min: 0.0, max: 6.0 });
    assert_eq!(op(&g, "act_1"), Op::Dropout { ratio: 0.25 });
    assert_eq!(g.nodes.last().unwrap().outputs, ["f"]);
}

#[test]
fn opset_11_clip_and_12_dropout_read_constant_inputs() {
    let m = model(
        13,
        vec![
            node(
                "Constant",
                "k6",
                &[],
                &["six"],
                vec![attr_float("value_float", 6.0)],
            ),
            node("Clip", "relu6", &["x", "", "six"], &["a"], vec![]),
            node("Clip", "clamp", &["a", "lo", "six"], &["b"], vec![]),
            node("Dropout", "drop", &["b", "ratio"], &["c"], vec![]),
        ],
        vec![
            raw_data("lo", &[], &[-1.0]),
            raw_data("ratio", &[1], &[0.125]),
        ],
        vec![value("x", &[None, Some(3)])],
        vec![value("c", &[None, Some(3)])],
    );
    let g = from_model(&m).unwrap();
    assert_eq!(
        op(&g, "relu6"),
        Op::Clip {
            min: f32::NEG_INFINITY,
            max: 6.0
        }
    );
    assert_eq!(
        op(&g, "clamp"),
        Op::Clip {
            min: -1.0,
            max: 6.0
        }
    );
    assert_eq!(op(&g, "drop"), Op::Dropout { ratio: 0.125 });
}

fn same_pad_model(auto_pad: &str) -> shears_onnx::proto::ModelProto {
    model(
        17,
        vec![
            node(
                "Conv",
                "conv",
                &["x", "w"],
                &["c"],
                vec![
                    attr_string("auto_pad", auto_pad),
                    attr_ints("strides", &[2, 2]),
                ],
            ),
            node(
                "MaxPool",
                "pool",
                &["c"],
                &["p"],
                vec![
                    attr_string("auto_pad", auto_pad),
                    attr_ints("kernel_shape", &[2, 2]),
                ],
            ),
        ],
        vec![float_data("w", &[1, 1, 3, 3], &[1.0; 9])],
        vec![value("x", &[None, Some(1), Some(6), Some(6)])],
        vec![value("p", &[])],
    )
}

#[test]
fn auto_pad_same_and_valid_become_explicit_padding() {
    let pads = |auto_pad| {
        let g = from_model(&same_pad_model(auto_pad)).unwrap();
        let (Op::Conv2d(c), Op::MaxPool2d(p)) = (op(&g, "conv"), op(&g, "pool")) else {
            panic!()
        };
        (
            c.padding,
            p.padding,
            g.infer_shapes().unwrap()[2][0].clone(),
        )
    };
    // 6 wide, k3 s2: 3 outputs need 7 columns, one padded; the 3x3 pool k2 s1 needs one more.
    assert_eq!(
        pads("SAME_UPPER"),
        ([0, 0, 1, 1], [0, 0, 1, 1], vec![1, 3, 3])
    );
    assert_eq!(
        pads("SAME_LOWER"),
        ([1, 1, 0, 0], [1, 1, 0, 0], vec![1, 3, 3])
    );
    assert_eq!(pads("VALID"), ([0; 4], [0; 4], vec![1, 1, 1]));
}

#[test]
fn reshape_matmul_and_negative_axes() {
    let m = model(
        17,
        vec![
            node(
                "Concat",
                "cat",
                &["x", "x"],
                &["c"],
                vec![attr_int("axis", -3)],
            ),
            node("Softmax", "sm4", &["c"], &["s"], vec![attr_int("axis", -3)]),
            node("Reshape", "view", &["s", "shape"], &["r"], vec![]),
            node("MatMul", "mm", &["r", "W"], &["y"], vec![]),
            node(
                "Flatten",
                "flat",
                &["y"],
                &["f"],
                vec![attr_int("axis", -1)],
            ),
            node("Softmax", "sm", &["f"], &["out"], vec![]),
        ],
        vec![
            int64_data("shape", &[2], &[0, -1]),
            float_data("W", &[8, 2], &[1.0; 16]),
        ],
        vec![value("x", &[None, Some(1), Some(2), Some(2)])],
        vec![value("out", &[None, Some(2)])],
    );
    let g = from_model(&m).unwrap();
    assert_eq!(op(&g, "cat"), Op::Concat { axis: 1 });
    assert_eq!(op(&g, "sm4"), Op::Softmax { axis: 1 });
    assert_eq!(op(&g, "view"), Op::Flatten { axis: 1 });
    let Op::Linear(l) = op(&g, "mm") else {
        panic!()
    };
    assert_eq!((l.weight.shape.clone(), l.bias), (vec![2, 8], None));
    assert_eq!(op(&g, "flat"), Op::Flatten { axis: 1 });
    assert_eq!(op(&g, "sm"), Op::Softmax { axis: 1 });
    assert_eq!(g.outputs, [OutletId::new(6)]);

    let mut bad = m.clone();
    bad.graph.as_mut().unwrap().initializer[0] = int64_data("shape", &[3], &[0, 2, -1]);
    let e = from_model(&bad).unwrap_err().to_string();
    assert!(
        e.contains("shears imports Reshape only as a per-sample flatten"),
        "{e}"
    );
}

#[test]
fn softmax_before_opset_13_only_over_the_last_axis() {
    let sm = |opset, dims: &[Option<i64>]| {
        let m = model(
            opset,
            vec![node("Softmax", "sm", &["x"], &["y"], vec![])],
            vec![],
            vec![value("x", dims)],
            vec![value("y", &[])],
        );
        from_model(&m)
    };
    assert_eq!(
        op(&sm(11, &[None, Some(10)]).unwrap(), "sm"),
        Op::Softmax { axis: 1 }
    );
    let e = sm(11, &[None, Some(3), Some(2), Some(2)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("shears imports it only over the last axis"),
        "{e}"
    );
    // Opset 13 defaults to the last axis.
    assert_eq!(
        op(&sm(13, &[None, Some(3), Some(2), Some(2)]).unwrap(), "sm"),
        Op::Softmax { axis: 3 }
    );
}

#[test]
fn batch_norm_defaults_and_momentum_convention() {
    let bn = |attrs| {
        let m = model(
            17,
            vec![node(
                "BatchNormalization",
                "bn",
                &["x", "s", "b", "m", "v"],
                &["y"],
                attrs,
            )],
            vec![
                float_data("s", &[2], &[1.0, 2.0]),
                float_data("b", &[2], &[0.0, 1.0]),
                float_data("m", &[2], &[0.5, 0.5]),
                float_data("v", &[2], &[1.0, 4.0]),
            ],
            vec![value("x", &[None, Some(2), Some(3), Some(3)])],
            vec![value("y", &[])],
        );
        let Op::BatchNorm2d(b) = op(&from_model(&m).unwrap(), "bn") else {
            panic!()
        };
        (b.eps, b.momentum)
    };
    assert_eq!(bn(vec![]), (1e-5, 0.1));
    assert_eq!(
        bn(vec![
            attr_float("epsilon", 1e-3),
            attr_float("momentum", 0.99)
        ]),
        (1e-3, 0.01)
    );
}
