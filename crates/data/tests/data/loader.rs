//! Batch loading: determinism, coverage, options and early stopping.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use shears_data::{Augment, BatchLoader, DataError, Dataset, LoaderConfig, Normalize};

use crate::common::tiny_dataset;

fn loader(data: Dataset, config: LoaderConfig) -> BatchLoader {
    BatchLoader::new(Arc::new(data), config).unwrap()
}

fn train(batch_size: usize, seed: u64) -> LoaderConfig {
    LoaderConfig::train(batch_size, seed, Augment::default(), Normalize::unit(1))
}

/// Sample indices seen in an epoch, recovered from the first pixel (unit
/// normalisation: value * 255 = index).
fn seen(loader: &BatchLoader, epoch: u64) -> Vec<usize> {
    let len = loader.dataset().sample_len();
    loader
        .epoch(epoch)
        .flat_map(|b| {
            b.images
                .chunks(len)
                .map(|s| (s[0] * 255.0).round() as usize)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn shuffling_is_reproducible_and_changes_across_epochs() {
    let l = loader(tiny_dataset(100, [1, 2, 2], 10), train(16, 42));
    assert_eq!(seen(&l, 0), seen(&l, 0));
    assert_eq!(seen(&l, 0), l.order(0));
    assert_ne!(l.order(0), l.order(1));
    assert_ne!(l.order(0), (0..100).collect::<Vec<_>>());
    let other_seed = loader(tiny_dataset(100, [1, 2, 2], 10), train(16, 43));
    assert_ne!(l.order(0), other_seed.order(0));
    // (seed 1, epoch 0) and (seed 0, epoch 1) differ too.
    let (a, b) = (
        loader(tiny_dataset(50, [1, 1, 1], 2), train(8, 1)),
        loader(tiny_dataset(50, [1, 1, 1], 2), train(8, 0)),
    );
    assert_ne!(a.order(0), b.order(1));
}

#[test]
fn every_sample_once_per_epoch_with_matching_labels() {
    let config = LoaderConfig {
        normalize: Normalize::unit(3),
        ..train(10, 5)
    };
    let l = loader(tiny_dataset(103, [3, 2, 2], 7), config);
    for epoch in 0..3 {
        let mut labels_ok = true;
        let mut idx = Vec::new();
        for b in l.epoch(epoch) {
            assert_eq!(b.images.len(), b.n * 12);
            assert_eq!(b.dims(), [b.n, 3, 2, 2]);
            for (s, &label) in b.images.chunks(12).zip(&b.labels) {
                let i = (s[0] * 255.0).round() as usize;
                labels_ok &= label == (i % 7) as i64;
                idx.push(i);
            }
        }
        assert!(labels_ok);
        idx.sort();
        assert_eq!(idx, (0..103).collect::<Vec<_>>());
    }
}

#[test]
fn batch_sizes_drop_last_and_limit() {
    let sizes = |config: LoaderConfig| -> Vec<usize> {
        loader(tiny_dataset(10, [1, 1, 1], 2), config)
            .epoch(0)
            .map(|b| b.n)
            .collect()
    };
    assert_eq!(sizes(train(3, 0)), vec![3, 3, 3, 1]);
    assert_eq!(
        sizes(LoaderConfig {
            drop_last: true,
            ..train(3, 0)
        }),
        vec![3, 3, 3]
    );
    assert_eq!(
        sizes(LoaderConfig {
            limit: Some(4),
            ..train(3, 0)
        }),
        vec![3, 1]
    );
    let l = loader(
        tiny_dataset(10, [1, 1, 1], 2),
        LoaderConfig {
            limit: Some(4),
            ..train(3, 0)
        },
    );
    let mut firsts = seen(&l, 3);
    firsts.sort();
    assert_eq!(firsts, vec![0, 1, 2, 3]);
    assert_eq!((l.len(), l.num_batches(), l.epoch(0).len()), (4, 2, 2));
}

#[test]
fn eval_loader_is_in_order_and_exactly_normalised() {
    let data = tiny_dataset(5, [1, 2, 2], 3);
    let norm = Normalize::new(vec![0.2860], vec![0.3530]).unwrap();
    let l = loader(data.clone(), LoaderConfig::eval(2, norm));
    let batches: Vec<_> = l.epoch(9).collect();
    assert_eq!(
        batches.iter().map(|b| b.n).collect::<Vec<_>>(),
        vec![2, 2, 1]
    );
    assert_eq!(batches[1].labels, vec![2, 0]);
    let pixel = data.sample(3).image[2];
    let expected = (pixel as f32 / 255.0 - 0.2860) / 0.3530;
    assert!((batches[1].images[4 + 2] - expected).abs() < 1e-6);
}

#[test]
fn subset_by_indices() {
    let config = LoaderConfig::eval(4, Normalize::unit(1));
    let data = Arc::new(tiny_dataset(20, [1, 1, 1], 2));
    let l = BatchLoader::with_indices(Arc::clone(&data), vec![7, 3, 11], config.clone()).unwrap();
    assert_eq!(seen(&l, 0), vec![7, 3, 11]);
    let err = BatchLoader::with_indices(data, vec![20], config).unwrap_err();
    assert!(err.to_string().contains("index 20"), "{err}");
}

#[test]
fn augmentation_is_reproducible_and_keeps_shape() {
    let augment = Augment {
        random_crop_padding: 2,
        horizontal_flip: true,
    };
    let config = LoaderConfig::train(8, 3, augment, Normalize::unit(3));
    let l = loader(tiny_dataset(40, [3, 5, 5], 4), config);
    let a: Vec<_> = l.epoch(2).collect();
    let b: Vec<_> = l.epoch(2).collect();
    assert_eq!(a, b);
    assert!(
        a.iter()
            .all(|b| b.images.len() == b.n * 75 && b.shape == [3, 5, 5])
    );
    let c: Vec<_> = l.epoch(3).collect();
    assert_ne!(a, c);
}

#[test]
fn invalid_configs_are_rejected() {
    let data = Arc::new(tiny_dataset(4, [3, 1, 1], 2));
    let err = BatchLoader::new(Arc::clone(&data), train(4, 0)).unwrap_err();
    assert!(
        matches!(err, DataError::Config(_)) && err.to_string().contains("3 channel"),
        "{err}"
    );
    let config = LoaderConfig::eval(0, Normalize::unit(3));
    assert!(BatchLoader::new(data, config).is_err());
}

#[test]
fn dropping_an_epoch_early_does_not_hang() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let l = loader(tiny_dataset(10_000, [1, 8, 8], 10), train(1, 0));
        let mut epoch = l.epoch(0);
        let first = epoch.next().unwrap();
        std::thread::sleep(Duration::from_millis(50)); // let the producer fill the channel
        drop(epoch);
        for batch in l.epoch(1).take(3) {
            assert_eq!(batch.n, 1);
        }
        done_tx.send(first.n).unwrap();
    });
    let n = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("dropping an epoch hung");
    assert_eq!(n, 1);
}

#[test]
fn empty_dataset_gives_no_batches() {
    let l = loader(tiny_dataset(0, [1, 2, 2], 2), train(4, 0));
    assert_eq!(l.epoch(0).count(), 0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn epochs_cover_the_samples(n in 0usize..200, bs in 1usize..40, drop_last in any::<bool>(), seed in any::<u64>(), epoch in 0u64..5) {
        let config = LoaderConfig { drop_last, ..train(bs, seed) };
        let l = loader(tiny_dataset(n, [1, 1, 1], 3), config);
        let mut idx = seen(&l, epoch);
        let expected = if drop_last { n / bs * bs } else { n };
        prop_assert_eq!(idx.len(), expected);
        idx.sort();
        idx.dedup();
        prop_assert_eq!(idx.len(), expected);
    }
}
