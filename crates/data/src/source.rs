//! `DataSource`: a data set chosen by a spec string (`fashion-mnist`,
//! `mnist`, `cifar10`, `folder:PATH`), located on disk and loaded by split.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::named::Format;
use crate::{DataError, Dataset, FolderOptions, NamedSet, Normalize, Split, cifar, folder, idx};

/// ImageNet statistics, the default for image folders.
const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Where a data set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A standard data set; `data_dir` (the `--data-dir` option) overrides
    /// the default search directories.
    Named {
        /// Which data set.
        set: NamedSet,
        /// Directory holding the files (or a sub-folder named after the set).
        data_dir: Option<PathBuf>,
    },
    /// An image folder `root/{train,test|val}/<class>/*.png|jpg|jpeg`.
    Folder {
        /// The root folder.
        root: PathBuf,
        /// Channels and image size.
        options: FolderOptions,
    },
    /// Unlabelled images `root/*.png|jpg|jpeg`: a training split only, for label-free
    /// recovery by distillation.
    Images {
        root: PathBuf,
        options: FolderOptions,
    },
}

impl DataSource {
    /// Parses `fashion-mnist`, `mnist`, `cifar10`, `folder:PATH` or `images:PATH`.
    /// `data_dir` applies to the named sets; a folder spec carries its own path.
    pub fn parse(spec: &str, data_dir: Option<PathBuf>) -> Result<Self, DataError> {
        let spec = spec.trim();
        if let Some(path) = spec.strip_prefix("images:") {
            if path.is_empty() {
                return Err(DataError::UnknownSource(spec.to_string()));
            }
            let root = PathBuf::from(path);
            let options = FolderOptions::default();
            return Ok(DataSource::Images { root, options });
        }
        if let Some(path) = spec.strip_prefix("folder:") {
            if path.is_empty() {
                return Err(DataError::UnknownSource(spec.to_string()));
            }
            let root = PathBuf::from(path);
            let options = FolderOptions::default();
            return Ok(DataSource::Folder { root, options });
        }
        match NamedSet::from_name(spec) {
            Some(set) => Ok(DataSource::Named { set, data_dir }),
            None => Err(DataError::UnknownSource(spec.to_string())),
        }
    }

    /// Loads one split; a split without samples is an error (nothing can train or evaluate
    /// on it).
    pub fn load(&self, split: Split) -> Result<Dataset, DataError> {
        let set = match self {
            DataSource::Named { set, data_dir } => load_named(*set, data_dir.as_deref(), split)?,
            DataSource::Folder { root, options } => folder::read_dataset(root, split, options)?,
            DataSource::Images { root, options } => match split {
                Split::Train => folder::read_unlabelled(root, options)?,
                Split::Test => {
                    return Err(DataError::Config(format!(
                        "{self} holds unlabelled images: it has no test split to measure accuracy on"
                    )));
                }
            },
        };
        if set.is_empty() {
            return Err(DataError::Config(format!(
                "the {split} split of {self} has no samples: point `data_dir` at a directory that holds it"
            )));
        }
        Ok(set)
    }

    /// Whether the samples have labels (every source but `images:PATH`).
    pub fn labelled(&self) -> bool {
        !matches!(self, DataSource::Images { .. })
    }

    /// The options of an image folder, labelled or not.
    pub fn folder_options_mut(&mut self) -> Option<&mut FolderOptions> {
        match self {
            DataSource::Folder { options, .. } | DataSource::Images { options, .. } => {
                Some(options)
            }
            DataSource::Named { .. } => None,
        }
    }

    /// The set's standard normalisation (ImageNet's for folders; its channel
    /// average for grayscale folders).
    pub fn default_normalize(&self) -> Normalize {
        let (mean, std) = match self {
            DataSource::Named { set, .. } => set.mean_std(),
            DataSource::Folder { options, .. } | DataSource::Images { options, .. }
                if options.channels == 1 =>
            {
                (vec![mean3(IMAGENET_MEAN)], vec![mean3(IMAGENET_STD)])
            }
            DataSource::Folder { .. } | DataSource::Images { .. } => {
                (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec())
            }
        };
        Normalize { mean, std }
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Named { set, .. } => f.write_str(set.name()),
            DataSource::Folder { root, .. } => write!(f, "folder:{}", root.display()),
            DataSource::Images { root, .. } => write!(f, "images:{}", root.display()),
        }
    }
}

fn mean3(v: [f32; 3]) -> f32 {
    v.iter().sum::<f32>() / 3.0
}

fn load_named(set: NamedSet, data_dir: Option<&Path>, split: Split) -> Result<Dataset, DataError> {
    let dirs = set.search_dirs(data_dir);
    let wanted = set.split_files(split);
    let Some(files) = locate(&dirs, &wanted) else {
        let info = set.info();
        let names: Vec<&str> = wanted.iter().map(|alts| alts[0].as_str()).collect();
        return Err(DataError::NotFound {
            what: format!("{} {split} split ({})", info.title, names.join(", ")),
            tried: dirs,
            hint: info.hint.to_string(),
        });
    };
    match set.info().format {
        Format::Idx => idx::read_dataset(&files[0], &files[1], set.class_names()),
        Format::Cifar => cifar::read_dataset(&files, set.class_names()),
    }
}

/// Finds the first directory holding every wanted file (each given as a list
/// of acceptable names) and returns the paths found there.
pub(crate) fn locate(dirs: &[PathBuf], wanted: &[Vec<String>]) -> Option<Vec<PathBuf>> {
    dirs.iter().find_map(|dir| {
        wanted
            .iter()
            .map(|alts| alts.iter().map(|n| dir.join(n)).find(|p| p.is_file()))
            .collect()
    })
}
