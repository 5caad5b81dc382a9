//! IDX reading: raw and gzip round trips, and every kind of corruption.

use proptest::prelude::*;
use shears_data::{DataError, idx};

use crate::common::{TempDir, gzip, idx_images, idx_labels};

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

fn write_pair(dir: &TempDir, pixels: &[u8], labels: &[u8], h: u32, w: u32, gz: bool) {
    let n = labels.len() as u32;
    let (img, lbl) = (idx_images(pixels, n, h, w), idx_labels(labels));
    let (img, lbl) = if gz {
        (gzip(&img), gzip(&lbl))
    } else {
        (img, lbl)
    };
    dir.write("images", &img);
    dir.write("labels", &lbl);
}

fn read(dir: &TempDir) -> Result<shears_data::Dataset, DataError> {
    idx::read_dataset(
        &dir.path().join("images"),
        &dir.path().join("labels"),
        names(10),
    )
}

#[test]
fn raw_and_gzip_round_trip_exactly() {
    let pixels: Vec<u8> = (0..3 * 2 * 4).map(|i| (i * 11) as u8).collect();
    let labels = [7u8, 0, 9];
    for gz in [false, true] {
        let dir = TempDir::new("idx-rt");
        write_pair(&dir, &pixels, &labels, 2, 4, gz);
        let ds = read(&dir).unwrap();
        assert_eq!(ds.images, pixels);
        assert_eq!(ds.labels, vec![7, 0, 9]);
        assert_eq!(ds.shape, [1, 2, 4]);
        assert_eq!((ds.len(), ds.classes), (3, 10));
        assert_eq!(ds.sample(1).image, &pixels[8..16]);
        assert_eq!(ds.sample(2).label, 9);
    }
}

#[test]
fn bad_magic_names_the_file() {
    let dir = TempDir::new("idx-magic");
    write_pair(&dir, &[1, 2, 3, 4], &[1], 2, 2, false);
    let mut bytes = idx_images(&[1, 2, 3, 4], 1, 2, 2);
    bytes[3] = 1; // claims 1 dimension
    let path = dir.write("images", &bytes);
    let err = read(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    // A label file holding an image header is also rejected.
    let labels = dir.write("labels", &idx_images(&[1, 2, 3, 4], 1, 2, 2));
    let err = idx::read_labels(&labels).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { .. }) && err.to_string().contains("labels"));
}

#[test]
fn truncated_files_are_reported() {
    let dir = TempDir::new("idx-trunc");
    write_pair(&dir, &[0; 2 * 3 * 3], &[1, 2], 3, 3, false);
    let full = idx_images(&[0; 2 * 3 * 3], 2, 3, 3);
    let path = dir.write("images", &full[..full.len() - 1]);
    let err = read(&dir).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert!(
        err.to_string().contains("need 18 data bytes but only 17"),
        "{err}"
    );
    // Header cut short.
    dir.write("images", &full[..10]);
    assert!(matches!(
        read(&dir).unwrap_err(),
        DataError::Truncated { .. }
    ));
    // Gzip stream cut short.
    let gz = gzip(&full);
    dir.write("images", &gz[..gz.len() / 2]);
    let err = read(&dir).unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err:?}");
}

#[test]
fn trailing_bytes_are_corruption() {
    let dir = TempDir::new("idx-trail");
    write_pair(&dir, &[0; 4], &[1], 2, 2, false);
    let mut bytes = idx_labels(&[1]);
    bytes.push(0);
    dir.write("labels", &bytes);
    let err = read(&dir).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("labels") && err.to_string().contains("1 unexpected"));
}

#[test]
fn label_count_mismatch_names_both_files() {
    let dir = TempDir::new("idx-count");
    write_pair(&dir, &[0; 3 * 4], &[1, 2, 3], 2, 2, true);
    dir.write("labels", &gzip(&idx_labels(&[1, 2])));
    let err = read(&dir).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 3,
                labels: 2,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("images") && msg.contains("labels") && msg.contains("3 images"),
        "{msg}"
    );
}

#[test]
fn out_of_range_label_and_missing_file() {
    let dir = TempDir::new("idx-label");
    write_pair(&dir, &[0; 4], &[10], 2, 2, false);
    let err = read(&dir).unwrap_err();
    assert!(matches!(err, DataError::Corrupt { .. }) && err.to_string().contains("label 10"));
    std::fs::remove_file(dir.path().join("images")).unwrap();
    let err = read(&dir).unwrap_err();
    assert!(
        matches!(err, DataError::Io { .. }) && err.to_string().contains("images"),
        "{err}"
    );
}

#[test]
fn tiny_and_empty_files_do_not_panic() {
    let dir = TempDir::new("idx-tiny");
    for bytes in [
        &[][..],
        &[0, 0][..],
        &[0x1f, 0x8b][..],
        &[0, 0, 8, 3, 0][..],
    ] {
        let path = dir.write("f", bytes);
        let err = idx::read_images(&path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn any_idx_round_trips(n in 0usize..6, h in 1usize..5, w in 1usize..5, seed in any::<u8>(), gz in any::<bool>()) {
        let pixels: Vec<u8> = (0..n * h * w).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let labels: Vec<u8> = (0..n).map(|i| ((i + seed as usize) % 10) as u8).collect();
        let dir = TempDir::new("idx-prop");
        write_pair(&dir, &pixels, &labels, h as u32, w as u32, gz);
        let ds = read(&dir).unwrap();
        prop_assert_eq!(ds.images, pixels);
        prop_assert_eq!(ds.labels, labels.iter().map(|&l| l as u16).collect::<Vec<_>>());
        prop_assert_eq!(ds.shape, [1, h, w]);
    }
}
