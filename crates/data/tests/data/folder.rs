//! Image folders: layout, class numbering, decoding, conversion and resizing.

use image::{GrayImage, Luma, Rgb, RgbImage};
use shears_data::{DataError, DataSource, FolderOptions, Split, folder};

use crate::common::TempDir;

/// A 4 (w) x 3 (h) RGB image whose pixel (x, y) is `(base + x, 10 * y, 200)`.
fn rgb(base: u8) -> RgbImage {
    RgbImage::from_fn(4, 3, |x, y| Rgb([base + x as u8, 10 * y as u8, 200]))
}

fn save_rgb(dir: &TempDir, rel: &str, base: u8) {
    let path = dir.path().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    rgb(base).save(&path).unwrap();
}

/// train/{cat,dog}, test/{cat,dog}: PNGs, a grayscale PNG, a JPEG, a stray file.
fn make_folder() -> TempDir {
    let dir = TempDir::new("folder");
    save_rgb(&dir, "train/dog/b.png", 50);
    save_rgb(&dir, "train/dog/a.png", 40);
    save_rgb(&dir, "train/cat/x.PNG", 10);
    save_rgb(&dir, "train/cat/y.jpg", 20);
    dir.write("train/cat/notes.txt", b"not an image");
    let gray = GrayImage::from_fn(4, 3, |x, _| Luma([x as u8 * 60]));
    gray.save(dir.path().join("train/dog/c.png")).unwrap();
    save_rgb(&dir, "test/dog/t.png", 90);
    dir
}

#[test]
fn reads_sorted_classes_and_exact_png_pixels() {
    let dir = make_folder();
    let ds = folder::read_dataset(dir.path(), Split::Train, &FolderOptions::default()).unwrap();
    assert_eq!(ds.class_names, vec!["cat", "dog"]);
    assert_eq!(ds.shape, [3, 3, 4]);
    assert_eq!(ds.labels, vec![0, 0, 1, 1, 1]); // x.PNG y.jpg | a b c
    // Sample 2 is dog/a.png (base 40): CHW planes.
    let s = ds.sample(2).image;
    assert_eq!(&s[0..4], &[40, 41, 42, 43]); // red, row 0
    assert_eq!(&s[12 + 8..12 + 12], &[20, 20, 20, 20]); // green, row 2
    assert!(s[24..].iter().all(|&b| b == 200)); // blue
    // Grayscale PNG is replicated into three channels.
    let g = ds.sample(4).image;
    assert_eq!(&g[0..4], &[0, 60, 120, 180]);
    assert_eq!(&g[12..16], &g[0..4]);
    // JPEG is lossy: close, not exact.
    let j = ds.sample(1).image;
    assert!(
        j[24..].iter().all(|&b| b.abs_diff(200) <= 12),
        "{:?}",
        &j[24..]
    );
}

#[test]
fn test_split_shares_the_class_numbering_and_falls_back_to_val() {
    let dir = make_folder();
    let ds = folder::read_dataset(dir.path(), Split::Test, &FolderOptions::default()).unwrap();
    assert_eq!((ds.len(), ds.labels[0], ds.classes), (1, 1, 2));
    std::fs::rename(dir.path().join("test"), dir.path().join("val")).unwrap();
    let source = DataSource::parse(&format!("folder:{}", dir.path().display()), None).unwrap();
    assert_eq!(source.load(Split::Test).unwrap().labels, vec![1]);
}

#[test]
fn resizes_and_converts_to_grayscale() {
    let dir = make_folder();
    let options = FolderOptions {
        channels: 1,
        size: Some([6, 2]),
    };
    let ds = folder::read_dataset(dir.path(), Split::Train, &options).unwrap();
    assert_eq!((ds.shape, ds.images.len()), ([1, 6, 2], 5 * 12));
    // Uniform blue-only image stays uniform after a resize.
    let dir2 = TempDir::new("folder-uniform");
    let uniform = RgbImage::from_pixel(5, 5, Rgb([0, 0, 255]));
    for rel in ["train/a/0.png", "test/a/0.png"] {
        std::fs::create_dir_all(dir2.path().join(rel).parent().unwrap()).unwrap();
        uniform.save(dir2.path().join(rel)).unwrap();
    }
    let options = FolderOptions {
        channels: 3,
        size: Some([3, 2]),
    };
    let ds = folder::read_dataset(dir2.path(), Split::Test, &options).unwrap();
    assert_eq!(ds.images, [vec![0; 12], vec![255; 6]].concat());
}

#[test]
fn images_of_other_sizes_take_the_first_size() {
    let dir = make_folder();
    let big = RgbImage::from_pixel(8, 6, Rgb([1, 2, 3]));
    big.save(dir.path().join("train/dog/d.png")).unwrap();
    let ds = folder::read_dataset(dir.path(), Split::Train, &FolderOptions::default()).unwrap();
    assert_eq!((ds.shape, ds.len()), ([3, 3, 4], 6));
    assert!(ds.sample(5).image[..12].iter().all(|&v| v == 1));
}

#[test]
fn layout_errors_are_explained() {
    let dir = TempDir::new("folder-flat");
    save_rgb(&dir, "cat/a.png", 0);
    let err =
        folder::read_dataset(dir.path(), Split::Train, &FolderOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().join("train").display().to_string()) && msg.contains("<class>"),
        "{msg}"
    );

    let dir = make_folder();
    save_rgb(&dir, "test/bird/a.png", 0);
    let err = folder::read_dataset(dir.path(), Split::Test, &FolderOptions::default()).unwrap_err();
    assert!(
        matches!(err, DataError::Folder { .. }) && err.to_string().contains("bird"),
        "{err}"
    );

    let options = FolderOptions {
        channels: 2,
        size: None,
    };
    let err = folder::read_dataset(dir.path(), Split::Train, &options).unwrap_err();
    assert!(err.to_string().contains("channels must be 1 or 3"), "{err}");
}

#[test]
fn corrupt_image_names_the_file() {
    let dir = make_folder();
    let path = dir.write(
        "train/dog/broken.png",
        b"\x89PNG\r\n\x1a\nthis is not a png",
    );
    let options = FolderOptions {
        channels: 3,
        size: Some([3, 4]),
    };
    let err = folder::read_dataset(dir.path(), Split::Train, &options).unwrap_err();
    assert!(matches!(err, DataError::Image { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
