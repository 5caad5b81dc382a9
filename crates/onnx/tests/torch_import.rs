//! A model exported by PyTorch (`torch.onnx.export`, see `tests/torch_export.py`) imports, and
//! shears' re-export of it computes what the PyTorch network computes (checked by onnx's
//! reference evaluator). Skipped, with a note, when python3, torch or onnx is not available.

use shears_ir::Op;
use std::process::Command;

/// Runs the helper script; `None` (after a note) when the test should be skipped.
fn script(args: &[&std::path::Path]) -> Option<String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/torch_export.py");
    let output = match Command::new("python3").arg(script).args(args).output() {
        Ok(output) => output,
        Err(e) => {
            eprintln!("note: skipping the PyTorch import test: cannot run python3 ({e})");
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.code() == Some(3) {
        eprintln!("note: skipping the PyTorch import test: {}", stdout.trim());
        return None;
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "torch_export.py {args:?} failed:\n{stdout}\n{stderr}"
    );
    Some(stdout)
}

#[test]
fn a_pytorch_export_imports_and_re_exports_faithfully() {
    let dir = std::env::temp_dir().join(format!("shears-onnx-torch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (torch_file, shears_file) = (dir.join("torch.onnx"), dir.join("shears.onnx"));
    let run = || -> Option<String> {
        script(&["export".as_ref(), &torch_file])?;
        let graph = shears_onnx::load_file(&torch_file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(graph.input_shape(), Some(&[3, 16, 16][..]));
        assert_eq!(graph.nodes[0].name, "input");
        let out = graph.outputs[0];
        assert_eq!(graph.nodes[out.node].outputs, ["logits"]);
        assert_eq!(graph.infer_shapes().unwrap()[out.node][0], [7]);
        assert!(graph.node_by_name("/stem/stem.0/Conv").is_some());
        let kinds = |f: fn(&Op) -> bool| graph.nodes.iter().filter(|n| f(&n.op)).count();
        assert_eq!(kinds(|o| matches!(o, Op::Conv2d(_))), 4);
        assert_eq!(kinds(|o| matches!(o, Op::Clip { min: 0.0, max: 6.0 })), 1);
        shears_onnx::save_file(&graph, &shears_file, shears_onnx::Existing::Replace).unwrap();
        script(&["compare".as_ref(), &shears_file])
    };
    let outcome = run();
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(stdout) = outcome {
        println!("{stdout}");
    }
}
