//! The standard data sets shears knows by name: where they live, their file
//! names, class names and normalisation statistics.

use std::path::{Path, PathBuf};

use crate::Split;

/// A standard data set known by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NamedSet {
    /// Fashion-MNIST (28x28 grayscale, 10 classes).
    FashionMnist,
    /// MNIST handwritten digits (28x28 grayscale, 10 classes).
    Mnist,
    /// CIFAR-10 (32x32 RGB, 10 classes), binary version.
    Cifar10,
}

/// On-disk format of a named set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Idx,
    Cifar,
}

/// Static facts about a named set.
#[derive(Debug)]
pub(crate) struct Info {
    pub title: &'static str,
    pub format: Format,
    /// Sub-folder of `--data-dir` also searched, e.g. `cifar-10-batches-bin`.
    pub subdir: &'static str,
    /// Directories searched when no `--data-dir` is given.
    pub default_dirs: &'static [&'static str],
    pub hint: &'static str,
    pub class_names: &'static [&'static str],
    pub mean: &'static [f32],
    pub std: &'static [f32],
}

const DIGITS: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

const FASHION_MNIST: Info = Info {
    title: "Fashion-MNIST",
    format: Format::Idx,
    subdir: "fashion-mnist",
    default_dirs: &["/usr/share/datasets/fashion-mnist", "data/fashion-mnist"],
    hint: "Install it with `apt-get install dataset-fashion-mnist`, or point `data_dir` at the directory holding it \
           containing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
           t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (raw or gzipped).",
    class_names: &[
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
    mean: &[0.2860],
    std: &[0.3530],
};

const MNIST: Info = Info {
    title: "MNIST",
    format: Format::Idx,
    subdir: "mnist",
    default_dirs: &["/usr/share/datasets/mnist", "data/mnist"],
    hint: "Download the four MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, \
           t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz; from a mirror of \
           http://yann.lecun.com/exdb/mnist/) into DIR and point `data_dir` at DIR.",
    class_names: &DIGITS,
    mean: &[0.1307],
    std: &[0.3081],
};

const CIFAR10: Info = Info {
    title: "CIFAR-10",
    format: Format::Cifar,
    subdir: "cifar-10-batches-bin",
    default_dirs: &["data/cifar-10-batches-bin"],
    hint: "Download the binary version (cifar-10-binary.tar.gz from \
           https://www.cs.toronto.edu/~kriz/cifar.html), extract it and point `data_dir` at DIR \
           (DIR or DIR/cifar-10-batches-bin must hold data_batch_1.bin .. data_batch_5.bin \
           and test_batch.bin).",
    class_names: &[
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ],
    mean: &[0.4914, 0.4822, 0.4465],
    std: &[0.2470, 0.2435, 0.2616],
};

impl NamedSet {
    /// Parses a name such as `fashion-mnist`, `mnist` or `cifar10`.
    pub fn from_name(name: &str) -> Option<NamedSet> {
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "fashion-mnist" | "fashionmnist" => Some(NamedSet::FashionMnist),
            "mnist" => Some(NamedSet::Mnist),
            "cifar10" | "cifar-10" => Some(NamedSet::Cifar10),
            _ => None,
        }
    }

    /// The canonical spec name (`fashion-mnist`, `mnist`, `cifar10`).
    pub fn name(self) -> &'static str {
        match self {
            NamedSet::FashionMnist => "fashion-mnist",
            NamedSet::Mnist => "mnist",
            NamedSet::Cifar10 => "cifar10",
        }
    }

    /// The class names, in label order.
    pub fn class_names(self) -> Vec<String> {
        self.info()
            .class_names
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Per-channel `(mean, std)` of the training set, on pixels scaled to [0, 1].
    pub fn mean_std(self) -> (Vec<f32>, Vec<f32>) {
        (self.info().mean.to_vec(), self.info().std.to_vec())
    }

    pub(crate) fn info(self) -> &'static Info {
        match self {
            NamedSet::FashionMnist => &FASHION_MNIST,
            NamedSet::Mnist => &MNIST,
            NamedSet::Cifar10 => &CIFAR10,
        }
    }

    /// Directories searched, in order: `data_dir` and `data_dir/<subdir>` when
    /// a data directory is given (it overrides the defaults), else the defaults.
    pub fn search_dirs(self, data_dir: Option<&Path>) -> Vec<PathBuf> {
        match data_dir {
            Some(dir) => vec![dir.to_path_buf(), dir.join(self.info().subdir)],
            None => self.info().default_dirs.iter().map(PathBuf::from).collect(),
        }
    }

    /// The files of `split`; each entry lists acceptable alternative names.
    pub(crate) fn split_files(self, split: Split) -> Vec<Vec<String>> {
        match (self.info().format, split) {
            (Format::Idx, _) => {
                let prefix = if split == Split::Train {
                    "train"
                } else {
                    "t10k"
                };
                ["images-idx3-ubyte", "labels-idx1-ubyte"]
                    .iter()
                    .map(|kind| vec![format!("{prefix}-{kind}.gz"), format!("{prefix}-{kind}")])
                    .collect()
            }
            (Format::Cifar, Split::Train) => (1..=5)
                .map(|i| vec![format!("data_batch_{i}.bin")])
                .collect(),
            (Format::Cifar, Split::Test) => vec![vec!["test_batch.bin".to_string()]],
        }
    }
}
