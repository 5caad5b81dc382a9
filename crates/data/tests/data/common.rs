//! Test helpers: temporary directories and writers for tiny data files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use shears_data::Dataset;

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("shears-data-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `bytes` to `rel` (creating parent folders) and returns the path.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An IDX image file (`idx3-ubyte`) of `n` images of `h x w`.
pub fn idx_images(pixels: &[u8], n: u32, h: u32, w: u32) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    for d in [n, h, w] {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// An IDX label file (`idx1-ubyte`).
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// CIFAR-10 records: a label byte followed by 3072 pixels each.
pub fn cifar_records(labels: &[u8], pixel: impl Fn(usize, usize) -> u8) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        out.push(l);
        out.extend((0..3072).map(|p| pixel(i, p)));
    }
    out
}

/// `n` samples of `shape` whose first pixel is the sample index (mod 256)
/// and whose other pixels follow a simple pattern; label = index % classes.
pub fn tiny_dataset(n: usize, shape: [usize; 3], classes: usize) -> Dataset {
    let len: usize = shape.iter().product();
    let images = (0..n)
        .flat_map(|i| {
            (0..len).map(move |p| {
                if p == 0 {
                    i as u8
                } else {
                    (i * 7 + p * 3) as u8
                }
            })
        })
        .collect();
    let labels = (0..n).map(|i| (i % classes) as u16).collect();
    let names = (0..classes).map(|c| format!("class{c}")).collect();
    Dataset::new(images, labels, shape, names).unwrap()
}
