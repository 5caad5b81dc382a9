//! Normalisation and augmentation.

use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};
use shears_data::{Augment, Normalize, crop_with_padding, flip_horizontal};

#[test]
fn normalize_scales_then_standardises_per_channel() {
    let norm = Normalize::new(vec![0.5, 0.25], vec![0.5, 0.25]).unwrap();
    let image = [0u8, 255, 51, 0, 255, 102];
    let mut out = [0f32; 6];
    norm.apply(&image, &mut out);
    let expected = [-1.0, 1.0, -0.6, -1.0, 3.0, 0.6];
    for (o, e) in out.iter().zip(expected) {
        assert!((o - e).abs() < 1e-6, "{out:?}");
    }
}

#[test]
fn normalize_validates_lengths_and_values() {
    let fashion = Normalize::new(vec![0.2860], vec![0.3530]).unwrap();
    let err = fashion.check(3).unwrap_err();
    assert!(
        err.to_string()
            .contains("1 mean/std values but the images have 3 channel(s)"),
        "{err}"
    );
    assert!(fashion.check(1).is_ok());
    assert!(Normalize::new(vec![0.1, 0.2], vec![0.3]).is_err());
    assert!(Normalize::new(vec![], vec![]).is_err());
    assert!(Normalize::new(vec![0.1], vec![0.0]).is_err());
    assert!(Normalize::new(vec![0.1], vec![f32::NAN]).is_err());
}

/// A 1 x 3 x 3 image holding 1..=9 row by row.
const IMG: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

fn crop(pad: usize, top: usize, left: usize) -> [u8; 9] {
    let mut out = [0xAA; 9];
    crop_with_padding(&IMG, [1, 3, 3], pad, top, left, &mut out);
    out
}

#[test]
fn crop_with_padding_shifts_content() {
    assert_eq!(crop(1, 1, 1), IMG); // centre crop = identity
    // Window at the padded top-left corner: content moves down-right by one.
    assert_eq!(crop(1, 0, 0), [0, 0, 0, 0, 1, 2, 0, 4, 5]);
    // Window at the bottom-right: content moves up-left; pixel 5 lands at (0, 0).
    assert_eq!(crop(1, 2, 2), [5, 6, 0, 8, 9, 0, 0, 0, 0]);
    assert_eq!(crop(1, 0, 2), [0, 0, 0, 2, 3, 0, 5, 6, 0]);
    // Padding wider than the image: the window can miss it entirely.
    assert_eq!(crop(4, 0, 0), [0; 9]);
    assert_eq!(crop(4, 4, 5), [2, 3, 0, 5, 6, 0, 8, 9, 0]);
}

#[test]
fn flip_reverses_every_row_of_every_channel() {
    let mut img: Vec<u8> = (1..=12).collect(); // 2 x 2 x 3
    flip_horizontal(&mut img, [2, 2, 3]);
    assert_eq!(img, vec![3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
}

#[test]
fn augment_keeps_shape_and_flips_about_half_the_time() {
    let augment = Augment {
        random_crop_padding: 0,
        horizontal_flip: true,
    };
    let mut rng = StdRng::seed_from_u64(7);
    let mut out = [0u8; 9];
    let mut flipped = 0;
    for _ in 0..1000 {
        augment.apply(&IMG, [1, 3, 3], &mut rng, &mut out);
        if out == [3, 2, 1, 6, 5, 4, 9, 8, 7] {
            flipped += 1;
        } else {
            assert_eq!(out, IMG);
        }
    }
    assert!((400..600).contains(&flipped), "{flipped}");
    assert!(!Augment::default().is_active());
}

/// Straightforward reference: out[c][y][x] = img[c][y+top-pad][x+left-pad] or 0.
fn reference(img: &[u8], [c, h, w]: [usize; 3], pad: usize, top: usize, left: usize) -> Vec<u8> {
    let mut out = vec![0; img.len()];
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                let (sy, sx) = (
                    (y + top) as isize - pad as isize,
                    (x + left) as isize - pad as isize,
                );
                if (0..h as isize).contains(&sy) && (0..w as isize).contains(&sx) {
                    out[(ch * h + y) * w + x] = img[(ch * h + sy as usize) * w + sx as usize];
                }
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn crop_matches_reference(c in 1usize..4, h in 1usize..7, w in 1usize..7, pad in 0usize..9,
                              t in 0usize..100, l in 0usize..100) {
        let (top, left) = (t % (2 * pad + 1), l % (2 * pad + 1));
        let img: Vec<u8> = (0..c * h * w).map(|i| i as u8 + 1).collect();
        let mut out = vec![0xAA; img.len()];
        crop_with_padding(&img, [c, h, w], pad, top, left, &mut out);
        prop_assert_eq!(out, reference(&img, [c, h, w], pad, top, left));
    }
}
