//! Fuzzing the data readers: seeded mutants of IDX (raw and gzip), CIFAR-10 and image-folder
//! files give a data set or an error, never a panic, an abort or a hang. Mutants per reader:
//! `SHEARS_FUZZ_MUTANTS` (default 300); the counts are printed (`--nocapture`). The harness
//! and the mutations are `shears-mutate`'s.

use crate::common::{TempDir, cifar_records, gzip, idx_images, idx_labels};
use rand::Rng;
use shears_data::{DataError, FolderOptions, Split, cifar, folder, idx};
use shears_mutate::{mutant_count, mutate, rng, survive};

/// Runs `read` on mutants of `base` written by `write` (gzipped half the time when `gz`, and
/// then sometimes mutated again).
fn fuzz(
    name: &str,
    base: &[u8],
    gz: bool,
    mut write: impl FnMut(&[u8]),
    read: impl Fn() -> Result<(), DataError>,
) {
    let mut rng = rng(name);
    let next = |_| {
        let mut bytes = mutate(&mut rng, base);
        if gz && rng.random_bool(0.5) {
            bytes = gzip(&bytes);
            if rng.random_bool(0.3) {
                bytes = mutate(&mut rng, &bytes);
            }
        }
        write(&bytes);
    };
    survive(name, mutant_count(300), next, read);
}

#[test]
fn idx_readers_survive_mutants() {
    let dir = TempDir::new("fuzz-idx");
    let pixels: Vec<u8> = (0..8 * 5 * 5).map(|i| i as u8).collect();
    let images = idx_images(&pixels, 8, 5, 5);
    let labels = idx_labels(&[0, 1, 2, 1, 0, 2, 1, 0]);
    let names = || vec!["a".to_string(), "b".into(), "c".into()];
    let (img, lab) = (dir.path().join("img"), dir.path().join("lab"));
    std::fs::write(&lab, &labels).unwrap();
    fuzz(
        "idx images",
        &images,
        true,
        |b| std::fs::write(&img, b).unwrap(),
        || idx::read_dataset(&img, &lab, names()).map(|_| ()),
    );
    std::fs::write(&img, &images).unwrap();
    fuzz(
        "idx labels",
        &labels,
        true,
        |b| std::fs::write(&lab, b).unwrap(),
        || idx::read_dataset(&img, &lab, names()).map(|_| ()),
    );
}

#[test]
fn cifar_reader_survives_mutants() {
    let dir = TempDir::new("fuzz-cifar");
    let records = cifar_records(&[3, 1, 9], |i, p| (i * 31 + p) as u8);
    let path = dir.path().join("data_batch_1.bin");
    let names: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    fuzz(
        "cifar",
        &records,
        true,
        |b| std::fs::write(&path, b).unwrap(),
        || cifar::read_dataset(std::slice::from_ref(&path), names.clone()).map(|_| ()),
    );
}

/// A small RGB PNG.
fn png(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

#[test]
fn folder_reader_survives_mutant_images() {
    let dir = TempDir::new("fuzz-folder");
    let base = png(6, 5);
    dir.write("test/a/t.png", &base);
    dir.write("train/b/u.png", &base);
    let path = dir.path().join("train/a/x.png");
    dir.write("train/a/x.png", &base);
    fuzz(
        "folder",
        &base,
        false,
        |b| std::fs::write(&path, b).unwrap(),
        || folder::read_dataset(dir.path(), Split::Train, &FolderOptions::default()).map(|_| ()),
    );
}

/// A PNG whose header claims `w` x `h` (the IHDR chunk rewritten, its CRC fixed).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = png(2, 2);
    // Signature (8), IHDR length (4), "IHDR" (4), width, height, 5 more bytes, CRC.
    bytes[16..20].copy_from_slice(&w.to_be_bytes());
    bytes[20..24].copy_from_slice(&h.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.sum().to_be_bytes());
    bytes
}

#[test]
fn an_image_claiming_100000_squared_pixels_is_refused_before_allocation() {
    let dir = TempDir::new("huge-header");
    dir.write("train/a/x.png", &png_claiming(100_000, 100_000));
    dir.write("test/a/y.png", &png(2, 2));
    let err = folder::read_dataset(dir.path(), Split::Train, &FolderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("100000x100000") && err.contains("over the limit"),
        "{err}"
    );
}
