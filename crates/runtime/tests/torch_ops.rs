//! Every op's forward pass against PyTorch.
//!
//! Expected values come from `scripts/torch_reference.py` (PyTorch 2.9), stored in
//! `tests/data/torch_ops.json`: each case names the op, its inputs, weights and output.

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;
use shears_ir::{Array, BatchNorm2d, Conv2d, Graph, GraphBuilder, Linear, Op, OutletId, Pool2d};
use shears_runtime::{Mode, Network, TapSpec};

fn array(v: &Value) -> Array {
    let shape = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap() as f32)
        .collect();
    Array::new(shape, data)
}

fn usizes<const N: usize>(v: &Value) -> [usize; N] {
    let list: Vec<usize> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    list.try_into().unwrap()
}

fn f(v: &Value) -> f32 {
    v.as_f64().unwrap() as f32
}

/// The IR op of a case, with its weights.
fn op_of(case: &Value) -> Op {
    let op = &case["op"];
    let w = |k: &str| array(&case["weights"][k]);
    let pool = || Pool2d {
        kernel: usizes(&op["kernel"]),
        stride: usizes(&op["stride"]),
        padding: usizes(&op["pads"]),
        dilation: [1, 1],
        ceil_mode: op["ceil_mode"].as_bool().unwrap_or(false),
        count_include_pad: op["count_include_pad"].as_bool().unwrap_or(false),
    };
    match op["type"].as_str().unwrap() {
        "conv" => Op::Conv2d(Conv2d {
            weight: w("weight"),
            bias: case["weights"].get("bias").map(array),
            stride: usizes(&op["stride"]),
            padding: usizes(&op["pads"]),
            dilation: usizes(&op["dilation"]),
            groups: op["groups"].as_u64().unwrap() as usize,
        }),
        "bn" => Op::BatchNorm2d(BatchNorm2d {
            gamma: w("gamma"),
            beta: w("beta"),
            mean: w("mean"),
            var: w("var"),
            eps: f(&op["eps"]),
            momentum: f(&op["momentum"]),
        }),
        "linear" => Op::Linear(Linear {
            weight: w("weight"),
            bias: Some(w("bias")),
        }),
        "relu" => Op::Relu,
        "clip" => Op::Clip {
            min: f(&op["min"]),
            max: f(&op["max"]),
        },
        "leaky_relu" => Op::LeakyRelu {
            alpha: f(&op["alpha"]),
        },
        "sigmoid" => Op::Sigmoid,
        "hard_sigmoid" => Op::HardSigmoid {
            alpha: f(&op["alpha"]),
            beta: f(&op["beta"]),
        },
        "hard_swish" => Op::HardSwish,
        "silu" => Op::Silu,
        "tanh" => Op::Tanh,
        "softmax" => Op::Softmax {
            axis: op["axis"].as_u64().unwrap() as usize,
        },
        "gap" => Op::GlobalAvgPool,
        "flatten" => Op::Flatten { axis: 1 },
        "max_pool" => Op::MaxPool2d(pool()),
        "avg_pool" => Op::AvgPool2d(pool()),
        "mul" => Op::Mul,
        "add" => Op::Add,
        "concat" => Op::Concat {
            axis: op["axis"].as_u64().unwrap() as usize,
        },
        other => panic!("unknown op type {other}"),
    }
}

/// A graph of one input per case input, the op, and (for rank-4 outputs) a flatten so the
/// network's `[N, features]` output holds the op's whole result.
fn graph_of(case: &Value, inputs: &[Array]) -> Graph {
    let (mut b, x) = GraphBuilder::new("case", inputs[0].shape[1..].to_vec());
    let mut args = vec![x];
    for (i, extra) in inputs.iter().enumerate().skip(1) {
        args.push(b.op(
            &format!("input{i}"),
            Op::Input {
                shape: extra.shape[1..].to_vec(),
            },
            &[],
        ));
    }
    let mut g_inputs: Vec<usize> = args.iter().map(|o: &OutletId| o.node).collect();
    let y = b.op("op", op_of(case), &args);
    let y = b.op("flat", Op::Flatten { axis: 1 }, &[y]);
    let mut graph = b.finish(y);
    graph.inputs.clear();
    graph.inputs.append(&mut g_inputs);
    graph
}

fn tensor(a: &Array, device: &Device) -> Tensor<4> {
    let mut dims = [1; 4];
    dims[..a.shape.len()].copy_from_slice(&a.shape);
    Tensor::from_data(TensorData::new(a.data.clone(), dims), device)
}

fn assert_close(name: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{name}[{i}]: shears {g} vs torch {w}"
        );
    }
}

#[test]
fn every_op_matches_pytorch() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/torch_ops.json"
    ))
    .unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let device = Device::flex();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 25);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let inputs: Vec<Array> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(array)
            .collect();
        let mut graph = graph_of(case, &inputs);
        graph.verify().unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut net = Network::new(&graph, &device).unwrap();
        let train = case["op"]["train"].as_bool().unwrap_or(false);
        let mode = if train { Mode::Train } else { Mode::Eval };
        let xs = inputs.iter().map(|a| tensor(a, &device)).collect();
        let (out, _) = net.forward_inputs(xs, mode, &TapSpec::default());
        let got = out.into_data().try_into_vec::<f32>().unwrap();
        assert_close(name, &got, &array(&case["output"]).data, 1e-4);
        if train {
            net.write_back(&mut graph);
            let Op::BatchNorm2d(bn) = &graph.nodes[1].op else {
                panic!("bn node")
            };
            let mean = array(&serde_json::json!({"shape": [4], "data": case["running_mean"]}));
            let var = array(&serde_json::json!({"shape": [4], "data": case["running_var"]}));
            assert_close("bn running mean", &bn.mean.data, &mean.data, 1e-5);
            assert_close("bn running var", &bn.var.data, &var.data, 1e-5);
        }
    }
}
