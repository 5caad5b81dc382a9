//! `DataSource`: parsing specs, locating named sets and explaining failures.

use shears_data::{DataError, DataSource, NamedSet, Split};

use crate::common::{TempDir, gzip, idx_images, idx_labels};

#[test]
fn parses_specs() {
    let named = |s: &str| match DataSource::parse(s, None).unwrap() {
        DataSource::Named { set, .. } => set,
        other => panic!("{other:?}"),
    };
    assert_eq!(named("fashion-mnist"), NamedSet::FashionMnist);
    assert_eq!(named("Fashion_MNIST"), NamedSet::FashionMnist);
    assert_eq!(named("mnist"), NamedSet::Mnist);
    assert_eq!(named("cifar10"), NamedSet::Cifar10);
    assert_eq!(named("CIFAR-10"), NamedSet::Cifar10);
    let folder = DataSource::parse("folder:/x/y", None).unwrap();
    assert_eq!(folder.to_string(), "folder:/x/y");
    for bad in ["imagenet", "folder:", ""] {
        let err = DataSource::parse(bad, None).unwrap_err();
        assert!(
            matches!(err, DataError::UnknownSource(_)) && err.to_string().contains("folder:PATH")
        );
    }
    assert_eq!("val".parse::<Split>().unwrap(), Split::Test);
}

#[test]
fn default_normalisations() {
    let norm = |s: &str| DataSource::parse(s, None).unwrap().default_normalize();
    assert_eq!(
        (norm("fashion-mnist").mean, norm("fashion-mnist").std),
        (vec![0.2860], vec![0.3530])
    );
    assert_eq!(
        (norm("mnist").mean, norm("mnist").std),
        (vec![0.1307], vec![0.3081])
    );
    assert_eq!(norm("cifar10").mean, vec![0.4914, 0.4822, 0.4465]);
    assert_eq!(norm("cifar10").std, vec![0.2470, 0.2435, 0.2616]);
    assert_eq!(norm("folder:x").mean, vec![0.485, 0.456, 0.406]);
    assert_eq!(norm("folder:x").std, vec![0.229, 0.224, 0.225]);
    assert_eq!(NamedSet::FashionMnist.class_names()[9], "Ankle boot");
    assert_eq!(NamedSet::FashionMnist.class_names()[0], "T-shirt/top");
}

/// Writes the four Fashion-MNIST files (train: 3 samples gzipped, test: 2 raw).
fn write_idx_set(dir: &TempDir, sub: &str) {
    dir.write(
        &format!("{sub}train-images-idx3-ubyte.gz"),
        &gzip(&idx_images(&[5; 3 * 4], 3, 2, 2)),
    );
    dir.write(
        &format!("{sub}train-labels-idx1-ubyte.gz"),
        &gzip(&idx_labels(&[0, 9, 4])),
    );
    dir.write(
        &format!("{sub}t10k-images-idx3-ubyte"),
        &idx_images(&[6; 2 * 4], 2, 2, 2),
    );
    dir.write(
        &format!("{sub}t10k-labels-idx1-ubyte"),
        &idx_labels(&[1, 2]),
    );
}

#[test]
fn named_idx_set_from_data_dir_or_its_subfolder() {
    for sub in ["", "fashion-mnist/"] {
        let dir = TempDir::new("src-idx");
        write_idx_set(&dir, sub);
        let source = DataSource::parse("fashion-mnist", Some(dir.path().to_path_buf())).unwrap();
        let train = source.load(Split::Train).unwrap();
        assert_eq!(
            (train.labels.clone(), train.shape),
            (vec![0, 9, 4], [1, 2, 2])
        );
        assert_eq!(train.class_names[9], "Ankle boot");
        let test = source.load(Split::Test).unwrap();
        assert_eq!((test.len(), test.images[0]), (2, 6));
    }
}

#[test]
fn missing_set_lists_every_directory_and_how_to_get_it() {
    let dir = TempDir::new("src-missing");
    dir.write(
        "train-images-idx3-ubyte.gz",
        &gzip(&idx_images(&[5; 4], 1, 2, 2)),
    ); // no labels
    let source = DataSource::parse("fashion-mnist", Some(dir.path().to_path_buf())).unwrap();
    let err = source.load(Split::Train).unwrap_err();
    let DataError::NotFound { tried, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        tried,
        &vec![dir.path().to_path_buf(), dir.path().join("fashion-mnist")]
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&dir.path().join("fashion-mnist").display().to_string()),
        "{msg}"
    );
    assert!(
        msg.contains("apt-get install dataset-fashion-mnist") && msg.contains("`data_dir`"),
        "{msg}"
    );
    assert!(msg.contains("train-labels-idx1-ubyte.gz"), "{msg}");

    let err = DataSource::parse("mnist", Some(dir.path().join("nope")))
        .unwrap()
        .load(Split::Test)
        .unwrap_err();
    assert!(
        err.to_string().contains("MNIST test split") && err.to_string().contains("nope"),
        "{err}"
    );
    // Without --data-dir, the default locations are searched.
    let dirs = NamedSet::Mnist.search_dirs(None);
    assert_eq!(
        dirs[0],
        std::path::PathBuf::from("/usr/share/datasets/mnist")
    );
}

#[test]
fn corrupt_named_set_names_the_file() {
    let dir = TempDir::new("src-corrupt");
    write_idx_set(&dir, "");
    let path = dir.write("t10k-labels-idx1-ubyte", &idx_labels(&[1, 2, 3]));
    let source = DataSource::parse("mnist", Some(dir.path().to_path_buf())).unwrap();
    let err = source.load(Split::Test).unwrap_err();
    assert!(matches!(err, DataError::CountMismatch { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
