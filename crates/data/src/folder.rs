//! Reader for image folders: `ROOT/<split>/<class>/*.png|jpg|jpeg`.
//!
//! The split sub-folder is `train/` for [`Split::Train`] and `test/` (or, if
//! absent, `val/`) for [`Split::Test`]. Classes are the sub-folders of
//! `ROOT/train/`, sorted by name, so both splits share one class numbering;
//! a class folder in the test split that training lacks is an error. Files in
//! a class folder are taken in name order (non-recursively, hidden files and
//! other extensions ignored). Images are converted to RGB (or grayscale with
//! `channels: 1`; alpha is dropped) and resized with a Catmull-Rom filter to
//! the requested size, by default the size of the first training image.

use std::path::{Path, PathBuf};

use image::{ImageBuffer, ImageReader, Pixel, imageops::FilterType};

use crate::{DataError, Dataset, Split};

/// Options for reading an image folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderOptions {
    /// 3 for RGB (default) or 1 for grayscale.
    pub channels: usize,
    /// Target `[height, width]`; `None` = size of the first training image.
    pub size: Option<[usize; 2]>,
}

impl Default for FolderOptions {
    fn default() -> Self {
        FolderOptions {
            channels: 3,
            size: None,
        }
    }
}

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Reads one split of the image folder at `root`.
pub fn read_dataset(
    root: &Path,
    split: Split,
    options: &FolderOptions,
) -> Result<Dataset, DataError> {
    check_options(root, options)?;
    let train_dir = split_dir(root, Split::Train)?;
    let classes = class_names(&train_dir)?;
    let dir = split_dir(root, split)?;
    check_unknown_classes(&dir, &classes)?;
    let (files, labels) = list_samples(&dir, &classes)?;
    if files.is_empty() {
        let reason = format!(
            "no .png/.jpg/.jpeg images in the class folders of {}",
            dir.display()
        );
        return Err(folder_error(root, reason));
    }
    let size = match options.size {
        Some(size) => size,
        None => first_image_size(root, &train_dir, &classes)?,
    };
    let shape = [options.channels, size[0], size[1]];
    check_buffer(root, files.len(), shape)?;
    let images = decode_all(&files, shape)?;
    Dataset::new(images, labels, shape, classes)
}

/// Reads every image directly inside `root` as one unlabelled split (labels all 0, one class
/// named `(unlabelled)`): images for label-free recovery, where only a teacher's outputs are
/// targets.
pub fn read_unlabelled(root: &Path, options: &FolderOptions) -> Result<Dataset, DataError> {
    check_options(root, options)?;
    let files = image_files(root)?;
    let Some(first) = files.first() else {
        let reason = "no .png/.jpg/.jpeg images in it".to_string();
        return Err(folder_error(root, reason));
    };
    let size = match options.size {
        Some(size) => size,
        None => {
            let (w, h) = open_reader(first)?
                .into_dimensions()
                .map_err(|error| image_error(first, error))?;
            [h as usize, w as usize]
        }
    };
    let shape = [options.channels, size[0], size[1]];
    check_buffer(root, files.len(), shape)?;
    let images = decode_all(&files, shape)?;
    Dataset::new(images, vec![0; files.len()], shape, vec![UNLABELLED.into()])
}

/// The one class name of an unlabelled set.
pub const UNLABELLED: &str = "(unlabelled)";

/// The directory holding `split`: `train/`, or `test/` falling back to `val/`.
pub fn split_dir(root: &Path, split: Split) -> Result<PathBuf, DataError> {
    let names: &[&str] = match split {
        Split::Train => &["train"],
        Split::Test => &["test", "val"],
    };
    let tried: Vec<PathBuf> = names.iter().map(|n| root.join(n)).collect();
    match tried.iter().find(|p| p.is_dir()) {
        Some(dir) => Ok(dir.clone()),
        None => Err(DataError::NotFound {
            what: format!("the {split} split of image folder {}", root.display()),
            tried,
            hint: format!(
                "Arrange images as {r}/train/<class>/*.png|jpg|jpeg and {r}/test/<class>/... (or {r}/val/<class>/...).",
                r = root.display()
            ),
        }),
    }
}

fn check_options(root: &Path, options: &FolderOptions) -> Result<(), DataError> {
    if options.channels != 1 && options.channels != 3 {
        let reason = format!("channels must be 1 or 3, not {}", options.channels);
        return Err(folder_error(root, reason));
    }
    match options.size {
        Some([h, w]) if h == 0 || w == 0 || h > 1 << 16 || w > 1 << 16 => {
            Err(folder_error(root, format!("invalid image size {h}x{w}")))
        }
        _ => Ok(()),
    }
}

/// Sorted names of the (non-hidden) sub-directories of `dir`.
fn class_names(dir: &Path) -> Result<Vec<String>, DataError> {
    let mut names: Vec<String> = read_dir(dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| visible_name(&p))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(folder_error(dir, "no class sub-folders".to_string()));
    }
    if names.len() > usize::from(u16::MAX) + 1 {
        return Err(folder_error(
            dir,
            format!("{} classes is too many", names.len()),
        ));
    }
    Ok(names)
}

fn check_unknown_classes(dir: &Path, classes: &[String]) -> Result<(), DataError> {
    match class_names(dir)?.into_iter().find(|c| !classes.contains(c)) {
        Some(extra) => Err(folder_error(
            dir,
            format!("class folder `{extra}` does not exist in the train split"),
        )),
        None => Ok(()),
    }
}

/// Image files of every class, with their labels.
fn list_samples(dir: &Path, classes: &[String]) -> Result<(Vec<PathBuf>, Vec<u16>), DataError> {
    let mut files = Vec::new();
    let mut labels = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = dir.join(class);
        if !class_dir.is_dir() {
            continue;
        }
        for file in image_files(&class_dir)? {
            files.push(file);
            labels.push(label as u16);
        }
    }
    Ok((files, labels))
}

/// Sorted image files (by extension) directly inside `dir`.
fn image_files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut files: Vec<PathBuf> = read_dir(dir)?
        .into_iter()
        .filter(|p| p.is_file() && visible_name(p).is_some() && has_image_extension(p))
        .collect();
    files.sort();
    Ok(files)
}

fn has_image_extension(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    EXTENSIONS.iter().any(|x| ext.eq_ignore_ascii_case(x))
}

fn visible_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy().into_owned();
    (!name.starts_with('.')).then_some(name)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    entries
        .map(|e| e.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect()
}

fn first_image_size(
    root: &Path,
    train_dir: &Path,
    classes: &[String],
) -> Result<[usize; 2], DataError> {
    let (files, _) = list_samples(train_dir, classes)?;
    let Some(first) = files.first() else {
        let reason = format!(
            "no images in {} to take the image size from",
            train_dir.display()
        );
        return Err(folder_error(root, reason));
    };
    let (w, h) = open_reader(first)?
        .into_dimensions()
        .map_err(|error| image_error(first, error))?;
    Ok([h as usize, w as usize])
}

/// Most values one decoded sample may have: 2^26 (e.g. 4096x4096 RGB fits, 100000x100000 not).
pub const MAX_SAMPLE_VALUES: usize = 1 << 26;

/// Refuses, before allocating, a sample size over [`MAX_SAMPLE_VALUES`] or a whole split that
/// would not fit in available memory.
fn check_buffer(root: &Path, files: usize, [c, h, w]: [usize; 3]) -> Result<(), DataError> {
    let sample = c.checked_mul(h).and_then(|n| n.checked_mul(w));
    let Some(sample) = sample.filter(|&n| n <= MAX_SAMPLE_VALUES) else {
        let reason = format!(
            "images of {h}x{w} pixels with {c} channels are over the limit of {MAX_SAMPLE_VALUES} values per sample: resize the images (or choose a smaller size in the folder options)"
        );
        return Err(folder_error(root, reason));
    };
    let total = sample.saturating_mul(files) as u64;
    if let Some(available) = shears_files::available_bytes()
        && total > available
    {
        let reason = format!(
            "{files} images of {c}x{h}x{w} need {total} bytes and {available} bytes of memory are available: use smaller images or fewer files"
        );
        return Err(folder_error(root, reason));
    }
    Ok(())
}

/// Decodes all files into one CHW buffer, using all cores.
fn decode_all(files: &[PathBuf], shape: [usize; 3]) -> Result<Vec<u8>, DataError> {
    let sample_len: usize = shape.iter().product();
    let mut out = vec![0u8; files.len() * sample_len];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = files.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = files
            .chunks(per_thread)
            .zip(out.chunks_mut(per_thread * sample_len))
            .map(|(files, buf)| {
                s.spawn(move || {
                    let mut outs = buf.chunks_mut(sample_len);
                    files
                        .iter()
                        .zip(&mut outs)
                        .try_for_each(|(f, o)| decode_into(f, shape, o))
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join().unwrap_or_else(|_| {
                Err(DataError::Config("an image decoder thread panicked".into()))
            })
        })
    })?;
    Ok(out)
}

/// Decodes, converts and resizes one image into `out` (CHW).
fn decode_into(path: &Path, [c, h, w]: [usize; 3], out: &mut [u8]) -> Result<(), DataError> {
    let image = open_reader(path)?
        .decode()
        .map_err(|error| image_error(path, error))?;
    let hwc = if c == 1 {
        resized(image.to_luma8(), h, w).into_raw()
    } else {
        resized(image.to_rgb8(), h, w).into_raw()
    };
    for (i, pixel) in hwc.chunks_exact(c).enumerate() {
        for (ch, &v) in pixel.iter().enumerate() {
            out[ch * h * w + i] = v;
        }
    }
    Ok(())
}

fn resized<P: Pixel<Subpixel = u8> + 'static>(
    image: ImageBuffer<P, Vec<u8>>,
    h: usize,
    w: usize,
) -> ImageBuffer<P, Vec<u8>> {
    if image.dimensions() == (w as u32, h as u32) {
        image
    } else {
        image::imageops::resize(&image, w as u32, h as u32, FilterType::CatmullRom)
    }
}

fn open_reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>, DataError> {
    ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| DataError::io(path, e))
}

fn image_error(path: &Path, error: image::ImageError) -> DataError {
    DataError::Image {
        path: path.to_path_buf(),
        error,
    }
}

fn folder_error(root: &Path, reason: String) -> DataError {
    DataError::Folder {
        root: root.to_path_buf(),
        reason,
    }
}
