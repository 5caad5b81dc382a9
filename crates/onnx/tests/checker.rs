//! Files shears writes pass the official ONNX checker (`tests/check_onnx.py`). Skipped, with a
//! note, when `python3` or its `onnx` package is not available.

mod common;

use shears_ir::zoo::{self, ArchSpec};
use shears_ir::{GraphBuilder, Op};
use std::process::Command;

#[test]
fn exported_files_pass_the_onnx_checker() {
    let dir = std::env::temp_dir().join(format!("shears-onnx-checker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut graphs = vec![common::every_op_graph()];
    for name in ["lenet5", "resnet20", "vgg11", "mobilenetv2"] {
        graphs.push(zoo::build(name, &ArchSpec::default()).unwrap());
    }
    let (mut b, x) = GraphBuilder::new("silu", vec![4, 3, 3]);
    let y = b.op("act", Op::Silu, &[x]);
    graphs.push(b.finish(y));
    let paths: Vec<_> = graphs
        .iter()
        .map(|g| {
            let path = dir.join(format!("{}.onnx", g.name));
            shears_onnx::save_file(g, &path, shears_onnx::Existing::Replace).unwrap();
            path
        })
        .collect();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/check_onnx.py");
    let output = match Command::new("python3").arg(script).args(&paths).output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("note: skipping the ONNX checker test: cannot run python3 ({e})");
            return;
        }
    };
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(3) {
        eprintln!("note: skipping the ONNX checker test: {}", stdout.trim());
        return;
    }
    assert!(
        output.status.success(),
        "the ONNX checker rejected shears' files:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}
