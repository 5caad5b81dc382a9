//! The real Fashion-MNIST, when installed (`apt-get install dataset-fashion-mnist`).

use std::path::Path;
use std::time::Instant;

use shears_data::{DataSource, Split};

const DIR: &str = "/usr/share/datasets/fashion-mnist";

#[test]
fn real_fashion_mnist() {
    if !Path::new(DIR).is_dir() {
        println!("skipping: {DIR} is absent (apt-get install dataset-fashion-mnist)");
        return;
    }
    let source = DataSource::parse("fashion-mnist", None).unwrap();
    let start = Instant::now();
    let test = source.load(Split::Test).unwrap();
    let test_time = start.elapsed();
    assert_eq!(
        (test.len(), test.shape, test.classes),
        (10_000, [1, 28, 28], 10)
    );
    assert_eq!(test.class_counts(), vec![1000; 10]);
    assert_eq!(test.class_names[0], "T-shirt/top");
    let start = Instant::now();
    let train = source.load(Split::Train).unwrap();
    let train_time = start.elapsed();
    assert_eq!((train.len(), train.shape), (60_000, [1, 28, 28]));
    assert_eq!(train.class_counts(), vec![6000; 10]);
    println!("loaded Fashion-MNIST test in {test_time:?}, train in {train_time:?}");
}
