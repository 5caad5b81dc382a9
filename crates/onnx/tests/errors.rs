//! Bad input gives clear errors, never a panic: truncated files, random bytes, unsupported ops,
//! dangling tensors, unusable inputs, nonsense attributes.

mod common;

use common::*;
use proptest::prelude::*;
use shears_ir::zoo::{self, ArchSpec};
use shears_onnx::{OnnxError, load, save};

fn err(model: &shears_onnx::proto::ModelProto) -> String {
    shears_onnx::from_model(model).unwrap_err().to_string()
}

#[test]
fn every_truncation_of_a_small_model_is_an_error() {
    let bytes = save(&every_op_graph()).unwrap();
    for n in 0..bytes.len() {
        assert!(
            load(&bytes[..n]).is_err(),
            "a file truncated to {n} of {} bytes loaded",
            bytes.len()
        );
    }
}

#[test]
fn truncations_of_a_large_model_are_errors() {
    let bytes = save(&zoo::build("resnet20", &ArchSpec::default()).unwrap()).unwrap();
    for n in (0..bytes.len())
        .step_by(997)
        .chain(bytes.len() - 64..bytes.len())
    {
        assert!(load(&bytes[..n]).is_err(), "truncated to {n} bytes");
    }
}

#[test]
fn a_file_that_is_not_onnx_names_itself_and_says_what_to_pass() {
    let dir = std::env::temp_dir().join(format!("shears-onnx-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.pt");
    std::fs::write(
        &path,
        b"PK\x03\x04 this is a zip archive, not a protobuf \xff\xff\xff",
    )
    .unwrap();
    let e = shears_onnx::load_file(&path).unwrap_err();
    assert!(matches!(e, OnnxError::NotOnnx { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "'{}' is not an ONNX model (protobuf decode failed: ",
            path.display()
        )),
        "{msg}"
    );
    assert!(
        msg.ends_with(
            "pass a .onnx file exported by shears, PyTorch (torch.onnx.export) or tf2onnx"
        ),
        "{msg}"
    );

    let missing = dir.join("missing.onnx");
    let msg = shears_onnx::load_file(&missing).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("cannot read '{}'", missing.display())),
        "{msg}"
    );

    // Errors past decoding name the file too.
    std::fs::write(&path, []).unwrap();
    let msg = shears_onnx::load_file(&path).unwrap_err().to_string();
    assert_eq!(
        msg,
        format!(
            "'{}': the model's graph is empty: the file holds no graph",
            path.display()
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unsupported_ops_are_all_listed_in_one_error() {
    let m = model(
        17,
        vec![
            node("GridSample", "up1", &["x"], &["a"], vec![]),
            node("Relu", "r", &["a"], &["b"], vec![]),
            node("LSTM", "rnn", &["b"], &["c"], vec![]),
            node("GridSample", "up2", &["c"], &["d"], vec![]),
            node("NonMaxSuppression", "", &["d"], &["e"], vec![]),
            NodeProto {
                domain: "com.microsoft".into(),
                ..node("FusedConv", "fc", &["e"], &["f"], vec![])
            },
        ],
        vec![],
        vec![value("x", &[None, Some(3), Some(8), Some(8)])],
        vec![value("f", &[])],
    );
    assert_eq!(
        err(&m),
        "unsupported ONNX ops: GridSample (nodes 'up1', 'up2'), LSTM (node 'rnn'), NonMaxSuppression (node \
         'NonMaxSuppression_4'), com.microsoft::FusedConv (node 'fc')"
    );
}

use shears_onnx::proto::NodeProto;

#[test]
fn a_dangling_tensor_names_the_node_and_the_tensor() {
    let m = model(
        17,
        vec![node("Conv", "conv1", &["x", "w"], &["y"], vec![])],
        vec![],
        vec![value("x", &[None, Some(3), Some(8), Some(8)])],
        vec![value("y", &[])],
    );
    assert_eq!(
        err(&m),
        "node 'conv1' reads 'w' which is neither an initializer, a Constant, nor an earlier output"
    );
}

#[test]
fn empty_models_and_graphs_are_errors() {
    assert!(matches!(load(&[]), Err(OnnxError::EmptyGraph(_))));
    let m = model(
        17,
        vec![],
        vec![],
        vec![value("x", &[None, Some(3)])],
        vec![],
    );
    assert_eq!(err(&m), "the model's graph is empty: it has no nodes");
}

fn relu_model(input: shears_onnx::proto::ValueInfoProto) -> shears_onnx::proto::ModelProto {
    let name = input.name.clone();
    model(
        17,
        vec![node("Relu", "r", &[&name], &["y"], vec![])],
        vec![],
        vec![input],
        vec![value("y", &[])],
    )
}

#[test]
fn unusable_graph_inputs_are_explained() {
    let e = err(&relu_model(value("x", &[None, Some(3), None, Some(8)])));
    assert!(
        e.starts_with("graph input 'x': dimension 2 is symbolic ('batch')"),
        "{e}"
    );
    let e = err(&relu_model(value("x", &[None])));
    assert_eq!(
        e,
        "graph input 'x': has rank 1; shears needs a batch axis and at least one more"
    );
    let mut int_input = value("x", &[None, Some(3)]);
    if let Some(shears_onnx::proto::type_proto::Value::TensorType(t)) =
        int_input.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.elem_type = 7;
    }
    assert_eq!(
        err(&relu_model(int_input)),
        "graph input 'x': has element type INT64; shears models take FLOAT inputs"
    );
    // Any batch dimension is accepted, symbolic or not.
    assert!(
        shears_onnx::from_model(&relu_model(value(
            "x",
            &[Some(1), Some(3), Some(4), Some(4)]
        )))
        .is_ok()
    );
}

#[test]
fn nonsense_attributes_are_errors_not_panics() {
    let conv = |attrs: Vec<_>, w_dims: &[i64]| {
        let len = w_dims.iter().product::<i64>().max(0) as usize;
        model(
            17,
            vec![node("Conv", "c", &["x", "w"], &["y"], attrs)],
            vec![float_data("w", w_dims, &vec![0.5; len])],
            vec![value("x", &[None, Some(2), Some(5), Some(5)])],
            vec![value("y", &[])],
        )
    };
    let cases = [
        (
            conv(vec![attr_ints("strides", &[0, 1])], &[2, 2, 3, 3]),
            "attribute 'strides'",
        ),
        (
            conv(vec![attr_ints("dilations", &[-1, 1])], &[2, 2, 3, 3]),
            "attribute 'dilations'",
        ),
        (
            conv(vec![attr_ints("pads", &[1, 1])], &[2, 2, 3, 3]),
            "attribute 'pads'",
        ),
        (
            conv(vec![attr_int("group", 0)], &[2, 2, 3, 3]),
            "attribute 'group'",
        ),
        (conv(vec![attr_int("group", 3)], &[2, 2, 3, 3]), "groups"),
        (conv(vec![], &[2, 2, 0, 3]), "empty axis"),
        (conv(vec![], &[2, 2, 3]), "2-D convolutions only"),
        (conv(vec![], &[2, 2, 9, 9]), "does not fit"),
        (
            conv(vec![attr_string("auto_pad", "WHATEVER")], &[2, 2, 3, 3]),
            "unknown auto_pad",
        ),
        (
            conv(vec![attr_float("group", 1.0)], &[2, 2, 3, 3]),
            "must be an int",
        ),
    ];
    for (m, expected) in cases {
        let e = err(&m);
        assert!(e.contains(expected), "expected '{expected}' in: {e}");
    }
    // Weights whose data does not match their shape.
    let mut m = conv(vec![], &[2, 2, 3, 3]);
    m.graph.as_mut().unwrap().initializer[0].dims = vec![2, 2, 3, 4];
    assert!(
        err(&m).starts_with("tensor 'w': holds 36 values, but its shape [2, 2, 3, 4] needs 48"),
        "{}",
        err(&m)
    );
    m.graph.as_mut().unwrap().initializer[0].dims = vec![i64::MAX, i64::MAX];
    assert!(
        err(&m).starts_with("tensor 'w': it has shape [9223372036854775807, 9223372036854775807], more than the limit"),
        "{}",
        err(&m)
    );
    m.graph.as_mut().unwrap().initializer[0].dims = vec![-1, 2];
    assert!(err(&m).contains("negative dimension"), "{}", err(&m));
    let ext = &mut m.graph.as_mut().unwrap().initializer[0];
    ext.data_location = 1;
    ext.external_data = vec![shears_onnx::proto::StringStringEntryProto {
        key: "location".into(),
        value: "w.bin".into(),
    }];
    assert!(
        err(&m).contains("'w.bin' beside the model file"),
        "{}",
        err(&m)
    );
}

#[test]
fn a_weight_computed_by_the_graph_or_a_constant_data_input_is_an_error() {
    let m = model(
        17,
        vec![
            node("Relu", "r", &["x"], &["w"], vec![]),
            node("Conv", "c", &["x", "w"], &["y"], vec![]),
        ],
        vec![],
        vec![value("x", &[None, Some(2), Some(5), Some(5)])],
        vec![value("y", &[])],
    );
    let e = err(&m);
    assert!(
        e.starts_with("node 'c' (Conv): input 1 ('w', the weight) is computed by the graph"),
        "{e}"
    );

    // A constant may be an operand of a broadcasting op, not the input of an activation.
    let m = model(
        17,
        vec![
            node("Add", "a", &["x", "k"], &["s"], vec![]),
            node("Relu", "r", &["k"], &["y"], vec![]),
        ],
        vec![float_data("k", &[1], &[1.0])],
        vec![value("x", &[None, Some(2)])],
        vec![value("y", &[])],
    );
    let e = err(&m);
    assert!(
        e.starts_with("node 'r' (Relu): input 0 ('k') is a constant tensor"),
        "{e}"
    );

    // One value per sample: a constant of the data's rank must be 1 along the batch axis.
    let m = model(
        17,
        vec![node("Mul", "m", &["x", "k"], &["y"], vec![])],
        vec![float_data("k", &[2, 2], &[1.0, 2.0, 3.0, 4.0])],
        vec![value("x", &[None, Some(2)])],
        vec![value("y", &[])],
    );
    let e = err(&m);
    assert!(e.contains("varies along the batch axis"), "{e}");
}

#[test]
fn graph_outputs_must_be_computed() {
    let m = model(
        17,
        vec![node("Relu", "r", &["x"], &["y"], vec![])],
        vec![float_data("k", &[1], &[1.0])],
        vec![value("x", &[None, Some(2)])],
        vec![value("nope", &[]), value("k", &[])],
    );
    assert_eq!(err(&m), "graph output 'nope': is not computed by any node");
}

#[test]
fn ir_verification_errors_are_reported() {
    let m = model(
        17,
        vec![node(
            "Gemm",
            "fc",
            &["x", "w"],
            &["y"],
            vec![attr_int("transB", 1)],
        )],
        vec![float_data("w", &[4, 3], &[0.0; 12])],
        vec![value("x", &[None, Some(5)])],
        vec![value("y", &[])],
    );
    let e = err(&m);
    assert!(
        e.starts_with("the imported graph is invalid: node 'fc' (Gemm)"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(load(&bytes).is_err());
    }

    #[test]
    fn corrupted_files_never_panic(seed in any::<u64>(), flips in 1usize..8) {
        let bytes = save(&every_op_graph()).unwrap();
        let mut bytes = bytes;
        let mut r = common::Rng::new(seed);
        for _ in 0..flips {
            let at = ((r.next() + 1.0) / 2.0 * bytes.len() as f32) as usize % bytes.len();
            bytes[at] = (r.next() * 128.0 + 128.0) as u8;
        }
        // Either outcome is fine; a panic is not.
        let _ = load(&bytes);
    }
}

/// A `Gather` on computed data imports as a channel permutation (how shears writes a shuffle)
/// and nothing else.
#[test]
fn a_gather_on_data_must_permute_the_channels() {
    let gather = |indices: &[i64], axis: i64| {
        model(
            17,
            vec![node(
                "Gather",
                "g",
                &["x", "i"],
                &["y"],
                vec![attr_int("axis", axis)],
            )],
            vec![int64_data("i", &[indices.len() as i64], indices)],
            vec![value("x", &[None, Some(3), Some(2), Some(2)])],
            vec![value("y", &[])],
        )
    };
    let graph = shears_onnx::from_model(&gather(&[2, 0, -2], 1)).unwrap();
    assert!(graph.nodes.iter().any(|n| n.op
        == shears_ir::Op::PermuteChannels {
            order: vec![2, 0, 1]
        }));
    for (indices, axis) in [(&[0, 1][..], 1), (&[0, 0, 1][..], 1), (&[1, 0][..], 2)] {
        let e = err(&gather(indices, axis));
        assert!(e.contains("only as a permutation of the channels"), "{e}");
    }
}

/// tf2onnx without `--inputs-as-nchw` transposes a channels-last input first: the error says
/// how to convert the model instead.
#[test]
fn a_channels_last_input_asks_for_inputs_as_nchw() {
    let m = model(
        13,
        vec![
            node(
                "Transpose",
                "t",
                &["x"],
                &["t"],
                vec![attr_ints("perm", &[0, 3, 1, 2])],
            ),
            node("Relu", "r", &["t"], &["y"], vec![]),
        ],
        vec![],
        vec![value("x", &[None, Some(8), Some(8), Some(3)])],
        vec![value("y", &[])],
    );
    let e = err(&m);
    assert!(e.contains("--inputs-as-nchw x"), "{e}");
}
