//! Models whose weights live in a data file beside them (`location`, `offset`, `length`), as
//! PyTorch's default exporter writes `m.onnx.data`: read by `load_file`, and a missing,
//! truncated or escaping data file is a clear error naming it.

use prost::Message;
use shears_ir::zoo::{self, ArchSpec};
use shears_onnx::proto::{ModelProto, StringStringEntryProto};
use shears_onnx::{from_model, load_file, to_model};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shears-external-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn entry(key: &str, value: impl ToString) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value: value.to_string(),
    }
}

/// resnet20 as ONNX with every initializer's bytes moved to `dir/m.onnx.data` (each at an
/// offset aligned to 64 bytes, as PyTorch aligns them); returns the self-contained original.
fn write_external(dir: &Path) -> ModelProto {
    let graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
    let original = to_model(&graph).unwrap();
    let mut model = original.clone();
    let mut data = Vec::new();
    for t in &mut model.graph.as_mut().unwrap().initializer {
        data.resize(data.len().next_multiple_of(64), 0);
        t.external_data = vec![
            entry("location", "m.onnx.data"),
            entry("offset", data.len()),
            entry("length", t.raw_data.len()),
        ];
        t.data_location = 1;
        data.append(&mut t.raw_data);
    }
    std::fs::write(dir.join("m.onnx"), model.encode_to_vec()).unwrap();
    std::fs::write(dir.join("m.onnx.data"), data).unwrap();
    original
}

fn error(path: &Path) -> String {
    load_file(path).unwrap_err().to_string()
}

#[test]
fn weights_in_a_data_file_beside_the_model_are_read() {
    let dir = scratch("read");
    let original = write_external(&dir);
    let graph = load_file(dir.join("m.onnx")).unwrap();
    let mut expected = from_model(&original).unwrap();
    expected.onnx_external_data = true;
    assert_eq!(graph, expected);
    // Bytes of the model alone cannot reach the data file: the error says how to read it.
    let bytes = std::fs::read(dir.join("m.onnx")).unwrap();
    let err = shears_onnx::load(&bytes).unwrap_err().to_string();
    assert!(err.contains("'m.onnx.data' beside the model file"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_model_read_with_a_data_file_is_written_with_one() {
    let dir = scratch("write");
    write_external(&dir);
    let graph = load_file(dir.join("m.onnx")).unwrap();
    let out = dir.join("out.onnx");
    shears_onnx::save_file(&graph, &out, shears_onnx::Existing::Refuse).unwrap();
    let data = std::fs::read(dir.join("out.onnx.data")).unwrap();
    let weights: usize = graph
        .nodes
        .iter()
        .flat_map(|n| n.op.arrays())
        .map(|a| a.len() * 4)
        .sum();
    let inline = std::fs::metadata(&out).unwrap().len() as usize;
    // Every initializer of at least 1 KiB is in the data file, the model file holds the rest.
    assert!(
        data.len() > weights * 9 / 10 && data.len() <= weights,
        "{} of {weights}",
        data.len()
    );
    assert!(inline < weights / 10, "the model file holds {inline} bytes");
    assert_eq!(load_file(&out).unwrap(), graph);
    // Both files are outputs: an existing data file is not replaced without being allowed to.
    std::fs::remove_file(&out).unwrap();
    let err = shears_onnx::save_file(&graph, &out, shears_onnx::Existing::Refuse).unwrap_err();
    assert!(err.to_string().contains("out.onnx.data"), "{err}");
    assert!(!out.exists());
    // A self-contained model stays self-contained.
    let mut inline_graph = graph.clone();
    inline_graph.onnx_external_data = false;
    let single = dir.join("single.onnx");
    shears_onnx::save_file(&inline_graph, &single, shears_onnx::Existing::Refuse).unwrap();
    assert!(!dir.join("single.onnx.data").exists());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_missing_or_truncated_data_file_is_an_error_naming_it() {
    let dir = scratch("missing");
    write_external(&dir);
    let model = dir.join("m.onnx");
    let data = dir.join("m.onnx.data");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
    let err = error(&model);
    assert!(
        err.contains("beyond the end of")
            && err.contains("m.onnx.data")
            && err.contains("truncated"),
        "{err}"
    );
    std::fs::remove_file(&data).unwrap();
    let err = error(&model);
    assert!(
        err.contains("external data file")
            && err.contains("m.onnx.data")
            && err.contains("keep the data file beside the model"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn locations_outside_the_model_directory_and_wrong_lengths_are_refused() {
    let dir = scratch("escape");
    write_external(&dir);
    let path = dir.join("m.onnx");
    let edit = |f: &dyn Fn(&mut ModelProto)| {
        let mut model = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
        f(&mut model);
        let edited = dir.join("edited.onnx");
        std::fs::write(&edited, model.encode_to_vec()).unwrap();
        error(&edited)
    };
    for location in ["../m.onnx.data", "/etc/passwd", ""] {
        let err = edit(&|m| {
            m.graph.as_mut().unwrap().initializer[0].external_data[0].value = location.into();
        });
        assert!(
            err.contains("is not a path inside the model's directory"),
            "{location}: {err}"
        );
    }
    let err = edit(&|m| {
        m.graph.as_mut().unwrap().initializer[0].external_data[2].value = "12".into();
    });
    assert!(err.contains("length is 12 bytes, but shape"), "{err}");
    let err = edit(&|m| {
        m.graph.as_mut().unwrap().initializer[0].external_data[1].value = "-4".into();
    });
    assert!(err.contains("offset '-4' is not a byte count"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}
