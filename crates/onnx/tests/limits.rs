//! Sizes read from a file are checked before anything of that size is allocated, and folds at
//! import never compute with inconsistent or overflowing values: each case here used to
//! allocate without bound, panic, or accept an inconsistent constant.

mod common;

use common::*;
use shears_onnx::OnnxError;
use shears_onnx::from_model;
use shears_onnx::proto::{ModelProto, NodeProto, TensorProto};

fn err(m: &ModelProto) -> OnnxError {
    from_model(m).expect_err("the model should be refused")
}

/// `nodes` computing `y` from `x` `[N, 2, 4, 4]`.
fn graph(opset: i64, nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
    model(
        opset,
        nodes,
        inits,
        vec![value("x", &[None, Some(2), Some(4), Some(4)])],
        vec![value("y", &[])],
    )
}

fn relu() -> NodeProto {
    node("Relu", "r", &["x"], &["y"], vec![])
}

#[test]
fn a_huge_constant_of_shape_is_refused_even_when_unused() {
    let m = graph(
        17,
        vec![
            node("ConstantOfShape", "cos", &["s"], &["big"], vec![]),
            relu(),
        ],
        vec![int64_data("s", &[4], &[100_000, 100_000, 5, 5])],
    );
    let e = err(&m);
    assert!(
        matches!(&e, OnnxError::TooLarge { kind: "node", name, .. } if name == "cos"),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "node 'cos': its output has shape [100000, 100000, 5, 5], more than the limit of \
         1073741824 elements per tensor: check the sizes in the file or arguments"
    );
    let m = graph(
        17,
        vec![
            node("ConstantOfShape", "cos", &["s"], &["big"], vec![]),
            relu(),
        ],
        vec![int64_data("s", &[2], &[4, -3])],
    );
    assert_eq!(
        err(&m).to_string(),
        "node 'cos' (ConstantOfShape): the shape [4, -3] has a negative dimension"
    );
}

#[test]
fn stored_tensors_are_checked_whether_read_or_not() {
    // An absurd axis in an empty tensor, an overflowing shape with raw data (the byte count
    // used to overflow), data shorter than the shape: all in unused initializers.
    let cases = [
        (
            raw_data("w", &[0, 1 << 40], &[]),
            "tensor 'w': it has shape [0, 1099511627776], more than the limit",
        ),
        (
            raw_data("w", &[1 << 62, 4], &[1.0]),
            "tensor 'w': it has shape [4611686018427387904, 4], more than the limit",
        ),
        (
            raw_data("w", &[3], &[1.0, 2.0]),
            "tensor 'w': raw_data holds 8 bytes, but shape [3] of FLOAT needs 12",
        ),
        (
            int64_data("w", &[-1], &[]),
            "tensor 'w': negative dimension -1 in [-1]",
        ),
    ];
    for (t, expected) in cases {
        let e = err(&graph(17, vec![relu()], vec![t])).to_string();
        assert!(e.starts_with(expected), "expected '{expected}' in: {e}");
    }
    // A Constant node's tensor is named after its output.
    let m = graph(
        17,
        vec![
            node(
                "Constant",
                "",
                &[],
                &["k"],
                vec![attr_tensor("value", raw_data("", &[1 << 31, 1 << 31], &[]))],
            ),
            relu(),
        ],
        vec![],
    );
    assert!(
        matches!(err(&m), OnnxError::TooLarge { kind: "tensor", ref name, .. } if name == "k"),
        "{:?}",
        err(&m)
    );
}

#[test]
fn graph_inputs_are_within_the_limits() {
    let input = |dims: &[Option<i64>]| {
        model(
            17,
            vec![relu()],
            vec![],
            vec![value("x", dims)],
            vec![value("y", &[])],
        )
    };
    let e = err(&input(&[None, Some(4096), Some(4096), Some(4096)]));
    assert_eq!(
        e.to_string(),
        "graph input 'x': one sample has shape [4096, 4096, 4096], more than the limit of \
         1073741824 elements per tensor: check the sizes in the file or arguments"
    );
    let e = err(&input(&[Some(-2), Some(3)]));
    assert_eq!(
        e.to_string(),
        "graph input 'x': the batch dimension is -2; it must be positive, or symbolic"
    );
}

#[test]
fn a_value_too_large_per_sample_is_refused_at_its_node() {
    // Padding a 1x1 map by 2^24 on each side: 2^50 elements per sample.
    let pads = 1 << 24;
    let m = model(
        17,
        vec![node("Pad", "pad", &["x", "p"], &["y"], vec![])],
        vec![int64_data("p", &[8], &[0, 0, pads, pads, 0, 0, pads, pads])],
        vec![value("x", &[None, Some(4), Some(1), Some(1)])],
        vec![value("y", &[])],
    );
    // Shape inference refuses it at the node, before anything of that size exists.
    let e = err(&m).to_string();
    assert!(
        e.contains("node 'pad'")
            && e.contains("[4, 33554433, 33554433]")
            && e.contains("more than the limit of 1073741824 elements"),
        "{e}"
    );
    // Pads past the largest extent are refused as such; they used to overflow a sum.
    let m = graph(
        17,
        vec![node("Pad", "pad", &["x", "p"], &["y"], vec![])],
        vec![int64_data(
            "p",
            &[8],
            &[0, i64::MAX, 0, 0, 0, i64::MAX, 0, 0],
        )],
    );
    assert!(
        err(&m)
            .to_string()
            .contains("must be 2 values from 0 to 16777216 per axis"),
        "{}",
        err(&m)
    );
}

#[test]
fn one_tensor_read_by_many_nodes_is_refused_before_it_is_copied() {
    // 2049 reads of a 2^20-element tensor: 2^31 + 2^20 elements, over the import budget.
    let inputs: Vec<&str> = std::iter::repeat_n("k", 2049).collect();
    let m = graph(
        17,
        vec![
            node("Concat", "cat", &inputs, &["c"], vec![attr_int("axis", 0)]),
            relu(),
        ],
        vec![int64_data("k", &[1 << 20], &vec![1; 1 << 20])],
    );
    let e = err(&m).to_string();
    assert!(
        e.starts_with(
            "node 'cat' (Concat): the constants read up to this node hold 2148532224 elements \
             in all, more than the limit of 2147483648"
        ),
        "{e}"
    );
}

/// A `Reshape` of constants must keep the element count (a wrong one used to make a constant
/// whose values did not fill its shape, and a later `Gather` read past its end).
#[test]
fn folding_a_reshape_keeps_the_element_count() {
    let m = graph(
        17,
        vec![
            node("Reshape", "grow", &["k", "shape"], &["g"], vec![]),
            node("Gather", "pick", &["g", "seven"], &["p"], vec![]),
            relu(),
        ],
        vec![
            int64_data("k", &[2], &[1, 2]),
            int64_data("shape", &[1], &[8]),
            int64_data("seven", &[], &[7]),
        ],
    );
    assert_eq!(
        err(&m).to_string(),
        "node 'grow' (Reshape): cannot reshape [2] to [8]"
    );
}

#[test]
fn folds_with_bad_operands_are_errors_not_panics() {
    let fold = |n: NodeProto, inits: Vec<TensorProto>| graph(13, vec![n, relu()], inits);
    let cases = [
        // Slice without a start: the fold indexed an empty list.
        (
            fold(
                node("Slice", "s", &["k", "empty", "one"], &["o"], vec![]),
                vec![
                    int64_data("k", &[3], &[1, 2, 3]),
                    int64_data("empty", &[0], &[]),
                    int64_data("one", &[1], &[1]),
                ],
            ),
            "node 's' (Slice): starts [] must hold one value for a 1-D constant",
        ),
        // Squeezing an axis of size 3 changed the element count.
        (
            fold(
                node("Squeeze", "sq", &["k", "zero"], &["o"], vec![]),
                vec![
                    int64_data("k", &[3, 1], &[1, 2, 3]),
                    int64_data("zero", &[1], &[0]),
                ],
            ),
            "node 'sq' (Squeeze): axis 0 of [3, 1] is not of size 1",
        ),
        // Integer overflow: a debug build panicked.
        (
            fold(
                node("Mul", "m", &["a", "b"], &["o"], vec![]),
                vec![
                    int64_data("a", &[1], &[i64::MAX]),
                    int64_data("b", &[1], &[2]),
                ],
            ),
            "node 'm' (Mul): Mul of the integers 9223372036854775807 and 2 is undefined or overflows",
        ),
        // An empty operand and a scalar: the fold read the empty one.
        (
            fold(
                node("Add", "a", &["e", "b"], &["o"], vec![]),
                vec![int64_data("e", &[0], &[]), int64_data("b", &[1], &[2])],
            ),
            "",
        ),
        // A gather whose result is over the limit (indices of 2^20 into a [1, 2^20] tensor).
        (
            fold(
                node(
                    "Gather",
                    "g",
                    &["k", "idx"],
                    &["o"],
                    vec![attr_int("axis", 0)],
                ),
                vec![
                    int64_data("k", &[1, 1 << 20], &vec![0; 1 << 20]),
                    int64_data("idx", &[1 << 11], &vec![0; 1 << 11]),
                ],
            ),
            "node 'g': its output has shape [2048, 1048576], more than the limit",
        ),
        // ConstantOfShape's value holds one value.
        (
            fold(
                node(
                    "ConstantOfShape",
                    "c",
                    &["shape"],
                    &["o"],
                    vec![attr_tensor("value", float_data("", &[2], &[1.0, 2.0]))],
                ),
                vec![int64_data("shape", &[1], &[3])],
            ),
            "node 'c' (ConstantOfShape): attribute 'value' must hold one value, it has shape [2]",
        ),
        // Only 1-D constants are concatenated, and sliced with unit steps along their axis.
        (
            fold(
                node(
                    "Concat",
                    "cat",
                    &["k", "m"],
                    &["o"],
                    vec![attr_int("axis", 0)],
                ),
                vec![
                    int64_data("k", &[2], &[1, 2]),
                    int64_data("m", &[1, 2], &[1, 2]),
                ],
            ),
            "node 'cat' (Concat): only 1-D constants are concatenated at import",
        ),
        (
            fold(
                node(
                    "Slice",
                    "s",
                    &["k", "zero", "two", "zero", "two"],
                    &["o"],
                    vec![],
                ),
                vec![
                    int64_data("k", &[3], &[1, 2, 3]),
                    int64_data("zero", &[1], &[0]),
                    int64_data("two", &[1], &[2]),
                ],
            ),
            "node 's' (Slice): only unit-step slices of axis 0 are folded at import",
        ),
        // Integer division by zero.
        (
            fold(
                node("Div", "d", &["a", "z"], &["o"], vec![]),
                vec![int64_data("a", &[1], &[1]), int64_data("z", &[1], &[0])],
            ),
            "node 'd' (Div): Div of the integers 1 and 0 is undefined or overflows",
        ),
    ];
    for (m, expected) in cases {
        match from_model(&m) {
            Ok(_) => assert!(expected.is_empty(), "'{expected}' was accepted"),
            Err(e) => assert!(
                !expected.is_empty() && e.to_string().starts_with(expected),
                "expected '{expected}', got: {e}"
            ),
        }
    }
}

#[test]
fn a_transpose_of_a_constant_follows_its_perm() {
    // perm [0, 1] keeps a [3, 2] MatMul weight as it is (it used to be transposed anyway).
    let m = model(
        17,
        vec![
            node(
                "Transpose",
                "t",
                &["w"],
                &["wt"],
                vec![attr_ints("perm", &[0, 1])],
            ),
            node("MatMul", "fc", &["x", "wt"], &["y"], vec![]),
        ],
        vec![float_data("w", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])],
        vec![value("x", &[None, Some(3)])],
        vec![value("y", &[])],
    );
    let g = from_model(&m).unwrap();
    let fc = g.node_by_name("fc").unwrap();
    let shears_ir::Op::Linear(l) = &g.nodes[fc].op else {
        panic!()
    };
    assert_eq!(l.weight.shape, [2, 3]);
    assert_eq!(l.weight.data, [1.0, 3.0, 5.0, 2.0, 4.0, 6.0]);
}

#[test]
fn window_sizes_are_bounded() {
    let lrn = graph(
        17,
        vec![node(
            "LRN",
            "lrn",
            &["x"],
            &["y"],
            vec![attr_int("size", i64::MAX)],
        )],
        vec![],
    );
    assert_eq!(
        err(&lrn).to_string(),
        "node 'lrn' (LRN): attribute 'size' must be an int from 1 to 16777216"
    );
}

#[test]
fn split_sizes_and_shuffle_reshapes_that_overflow_are_errors() {
    let split = graph(
        11,
        vec![node(
            "Split",
            "split",
            &["x"],
            &["a", "b", "y"],
            vec![
                attr_int("axis", 1),
                attr_ints("split", &[i64::MAX, i64::MAX, 2]),
            ],
        )],
        vec![],
    );
    assert!(
        err(&split)
            .to_string()
            .contains("do not cut axis 1 of 2 into 3"),
        "{}",
        err(&split)
    );
    let shuffle = graph(
        17,
        vec![node("Reshape", "r5", &["x", "t"], &["y"], vec![])],
        vec![int64_data("t", &[5], &[0, 1 << 40, 1 << 40, 4, 4])],
    );
    assert!(
        err(&shuffle).to_string().contains("channel shuffle"),
        "{}",
        err(&shuffle)
    );
}
