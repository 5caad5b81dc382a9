//! Save then load gives back the same graph: every built-in architecture, every op, files.

mod common;

use common::every_op_graph;
use prost::Message;
use shears_ir::zoo::{self, ArchSpec};
use shears_ir::{Graph, GraphBuilder, Op};
use shears_onnx::proto::tensor_shape_proto::dimension::Value as Dim;
use shears_onnx::proto::{ModelProto, type_proto};

/// The graph read back, less the opset it remembers having been read in (17 for a graph
/// built here; a graph read from opset 11 to 21 is written back in its own).
fn round_trip(graph: &Graph) -> Graph {
    let bytes = shears_onnx::save(graph).unwrap_or_else(|e| panic!("{}: {e}", graph.name));
    let back = shears_onnx::load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", graph.name));
    forget_opset(back, graph.onnx_opset.unwrap_or(shears_onnx::OPSET_VERSION))
}

fn forget_opset(mut back: Graph, expected: i64) -> Graph {
    assert_eq!(back.onnx_opset, Some(expected), "{}", back.name);
    back.onnx_opset = None;
    back
}

#[test]
fn every_builtin_architecture_round_trips() {
    for name in zoo::NAMES {
        let graph = zoo::build(name, &ArchSpec::default()).unwrap();
        let back = round_trip(&graph);
        assert_eq!(back, graph, "{name} changed in a save/load round trip");
        assert_eq!(back.param_count(), graph.param_count());
    }
}

#[test]
fn builtins_round_trip_at_other_shapes() {
    let spec = ArchSpec {
        input_shape: [1, 28, 28],
        classes: 100,
        seed: 3,
    };
    for name in ["lenet5", "resnet20", "mobilenetv2"] {
        let graph = zoo::build(name, &spec).unwrap();
        assert_eq!(round_trip(&graph), graph, "{name}");
    }
}

#[test]
fn a_graph_with_every_op_round_trips() {
    let graph = every_op_graph();
    assert_eq!(round_trip(&graph), graph);
}

#[test]
fn export_header_inputs_outputs_and_initializer_names() {
    let graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
    let model = ModelProto::decode(shears_onnx::save(&graph).unwrap().as_slice()).unwrap();
    assert_eq!(model.ir_version, 8);
    assert_eq!(model.producer_name, "shears");
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!(
        (
            model.opset_import[0].domain.as_str(),
            model.opset_import[0].version
        ),
        ("", 17)
    );
    let g = model.graph.unwrap();
    let dims = |v: &shears_onnx::proto::ValueInfoProto| -> Vec<String> {
        let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().unwrap().value.as_ref()
        else {
            panic!()
        };
        assert_eq!(t.elem_type, 1);
        t.shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| match d.value.as_ref().unwrap() {
                Dim::DimValue(n) => n.to_string(),
                Dim::DimParam(p) => p.clone(),
            })
            .collect()
    };
    assert_eq!(g.input.len(), 1);
    assert_eq!(dims(&g.input[0]), ["N", "3", "32", "32"]);
    assert_eq!(g.output.len(), 1);
    assert_eq!(dims(&g.output[0]), ["N", "10"]);
    let names: Vec<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    for expected in [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "bn1.running_mean",
        "bn1.running_var",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(
            names.contains(&expected),
            "no initializer {expected} in {names:?}"
        );
    }
    assert!(
        g.initializer
            .iter()
            .all(|t| t.data_type == 1 && !t.raw_data.is_empty() && t.float_data.is_empty())
    );
    let bn = g
        .node
        .iter()
        .find(|n| n.op_type == "BatchNormalization")
        .unwrap();
    let momentum = bn.attribute.iter().find(|a| a.name == "momentum").unwrap();
    assert_eq!(momentum.f, Some(0.9));
}

#[test]
fn silu_exports_as_sigmoid_times_input() {
    let (mut b, x) = GraphBuilder::new("silu", vec![4, 2, 2]);
    let y = b.op("act", Op::Silu, &[x]);
    let graph = b.finish(y);
    let model = ModelProto::decode(shears_onnx::save(&graph).unwrap().as_slice()).unwrap();
    let nodes: Vec<(&str, &str)> = model
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| (n.op_type.as_str(), n.name.as_str()))
        .collect();
    assert_eq!(nodes, [("Sigmoid", "act.sigmoid"), ("Mul", "act")]);
    let back = round_trip(&graph);
    let ops: Vec<&Op> = back.nodes.iter().map(|n| &n.op).collect();
    assert_eq!(
        ops,
        [
            &Op::Input {
                shape: vec![4, 2, 2]
            },
            &Op::Sigmoid,
            &Op::Mul
        ]
    );
    assert_eq!(
        back.nodes[2].inputs,
        [shears_ir::OutletId::new(0), shears_ir::OutletId::new(1)]
    );
    assert_eq!(back.nodes[2].outputs, ["act"]);
}

#[test]
fn files_round_trip_and_leave_no_temporary_file() {
    let dir = std::env::temp_dir().join(format!("shears-onnx-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lenet.onnx");
    let graph = zoo::build("lenet5", &ArchSpec::default()).unwrap();
    shears_onnx::save_file(&graph, &path, shears_onnx::Existing::Replace).unwrap();
    // Saving again replaces the file atomically.
    shears_onnx::save_file(&graph, &path, shears_onnx::Existing::Replace).unwrap();
    let back = shears_onnx::load_file(&path).unwrap();
    assert_eq!(forget_opset(back, 17), graph);
    let entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, [std::ffi::OsString::from("lenet.onnx")]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_refuses_invalid_graphs() {
    let mut graph = every_op_graph();
    let tanh = graph.node_by_name("tanh").unwrap();
    graph.nodes[tanh].outputs = vec!["relu".into()];
    let err = shears_onnx::save(&graph).unwrap_err().to_string();
    assert!(
        err.contains("two values") && err.contains("'relu'"),
        "{err}"
    );

    let mut graph = every_op_graph();
    graph.outputs.clear();
    assert!(
        shears_onnx::save(&graph)
            .unwrap_err()
            .to_string()
            .starts_with("cannot export graph 'every_op'")
    );
}
