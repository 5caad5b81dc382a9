//! Models exported with symbolic sizes (a free H and W, as PaddlePaddle, OCR and detection
//! exports have them): imported for the size given in `ImportOptions::input_shape`, refused
//! with a clear error without it, and written back with a fixed size and a symbolic batch.

use shears_ir::zoo::{self, ArchSpec};
use shears_onnx::proto::tensor_shape_proto::dimension;
use shears_onnx::proto::{ModelProto, type_proto};
use shears_onnx::{ImportOptions, from_model, from_model_with, to_model};

/// resnet20's model with the input's dims after the batch axis replaced by `dims`
/// (`None`: symbolic, named).
fn with_input_dims(dims: [Option<i64>; 3]) -> (ModelProto, ModelProto) {
    let graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
    let fixed = to_model(&graph).unwrap();
    let mut free = fixed.clone();
    let input = &mut free.graph.as_mut().unwrap().input[0];
    let Some(type_proto::Value::TensorType(t)) = input.r#type.as_mut().unwrap().value.as_mut()
    else {
        panic!("a tensor input")
    };
    let shape = t.shape.as_mut().unwrap();
    for (d, value) in shape.dim[1..].iter_mut().zip(dims) {
        d.value = Some(match value {
            Some(n) => dimension::Value::DimValue(n),
            None => dimension::Value::DimParam("size".into()),
        });
    }
    (fixed, free)
}

fn options(shape: &[usize]) -> ImportOptions {
    ImportOptions {
        input_shape: Some(shape.to_vec()),
    }
}

#[test]
fn symbolic_sizes_import_for_the_given_shape() {
    let (fixed, free) = with_input_dims([Some(3), None, None]);
    let err = from_model(&free).unwrap_err().to_string();
    assert!(
        err.contains("dimension 2 is symbolic ('size')")
            && err.contains("`ImportOptions::input_shape`"),
        "{err}"
    );
    let graph = from_model_with(&free, &options(&[3, 32, 32])).unwrap();
    assert_eq!(graph, from_model(&fixed).unwrap());
    // Written back with the size it was imported for, the batch axis left symbolic.
    let back = to_model(&graph).unwrap();
    let Some(type_proto::Value::TensorType(t)) = back.graph.as_ref().unwrap().input[0]
        .r#type
        .as_ref()
        .unwrap()
        .value
        .as_ref()
    else {
        panic!("a tensor input")
    };
    let dims: Vec<_> = t
        .shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| d.value.clone())
        .collect();
    assert!(
        matches!(dims[0], Some(dimension::Value::DimParam(_))),
        "{dims:?}"
    );
    assert_eq!(dims[2], Some(dimension::Value::DimValue(32)));
    // Another size works too: the network is fully convolutional up to its global pool.
    let small = from_model_with(&free, &options(&[3, 16, 24])).unwrap();
    assert_eq!(small.input_shape(), Some([3, 16, 24].as_slice()));
}

#[test]
fn a_given_shape_must_agree_with_fixed_sizes_and_the_rank() {
    let (_, free) = with_input_dims([Some(3), None, None]);
    let err = from_model_with(&free, &options(&[1, 32, 32]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dimension 1 is fixed at 3 in the file, not 1 as given"),
        "{err}"
    );
    let err = from_model_with(&free, &options(&[3, 32]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            "has 3 dimensions after the batch axis, but the given input shape [3, 32] has 2"
        ),
        "{err}"
    );
    let err = from_model_with(&free, &options(&[3, 0, 32]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("the given size 0 of dimension 2"), "{err}");
}
