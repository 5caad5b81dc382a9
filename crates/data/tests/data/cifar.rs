//! CIFAR-10 binary batches: round trip and corruption.

use shears_data::{DataError, DataSource, Split, cifar};

use crate::common::{TempDir, cifar_records};

fn pixel(i: usize, p: usize) -> u8 {
    (i * 13 + p / 1024 * 100 + p % 7) as u8
}

#[test]
fn batch_round_trip_is_chw() {
    let dir = TempDir::new("cifar-rt");
    let path = dir.write("test_batch.bin", &cifar_records(&[3, 9], pixel));
    let (images, labels) = cifar::read_batch(&path, 10).unwrap();
    assert_eq!(labels, vec![3, 9]);
    assert_eq!(images.len(), 2 * 3072);
    // Sample 1, green plane (channel 1), pixel 5.
    assert_eq!(images[3072 + 1024 + 5], pixel(1, 1024 + 5));
}

#[test]
fn named_source_reads_all_batches_from_subfolder() {
    let dir = TempDir::new("cifar-src");
    for b in 1..=5u8 {
        let name = format!("cifar-10-batches-bin/data_batch_{b}.bin");
        dir.write(
            &name,
            &cifar_records(&[b, b + 1], |i, p| pixel(i + 2 * b as usize, p)),
        );
    }
    dir.write(
        "cifar-10-batches-bin/test_batch.bin",
        &cifar_records(&[0, 1, 2], pixel),
    );
    let source = DataSource::parse("cifar10", Some(dir.path().to_path_buf())).unwrap();
    let train = source.load(Split::Train).unwrap();
    assert_eq!(
        (train.len(), train.shape, train.classes),
        (10, [3, 32, 32], 10)
    );
    assert_eq!(train.labels, vec![1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
    assert_eq!(train.sample(9).image[2048], pixel(9 + 2, 2048));
    assert_eq!(train.class_names[0], "airplane");
    let test = source.load(Split::Test).unwrap();
    assert_eq!(test.labels, vec![0, 1, 2]);
}

#[test]
fn truncated_and_bad_labels_are_errors() {
    let dir = TempDir::new("cifar-bad");
    let mut bytes = cifar_records(&[1, 2], pixel);
    bytes.pop();
    let path = dir.write("test_batch.bin", &bytes);
    let err = cifar::read_batch(&path, 10).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
    assert!(err.to_string().contains("test_batch.bin") && err.to_string().contains("3072 bytes"));
    let path = dir.write("test_batch.bin", &cifar_records(&[1, 10], pixel));
    let err = cifar::read_batch(&path, 10).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }) && err.to_string().contains("sample 1"));
    let path = dir.write("test_batch.bin", &[]);
    assert!(matches!(
        cifar::read_batch(&path, 10),
        Err(DataError::Truncated { .. })
    ));
}

#[test]
fn missing_cifar_says_where_and_how() {
    let dir = TempDir::new("cifar-missing");
    dir.write("data_batch_1.bin", &cifar_records(&[1], pixel)); // only one of five
    let source = DataSource::parse("cifar-10", Some(dir.path().to_path_buf())).unwrap();
    let err = source.load(Split::Train).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    let sub = dir.path().join("cifar-10-batches-bin");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    assert!(msg.contains(&sub.display().to_string()), "{msg}");
    assert!(
        msg.contains("cifar-10-binary.tar.gz") && msg.contains("`data_dir`"),
        "{msg}"
    );
    assert!(msg.contains("data_batch_5.bin"), "{msg}");
}
