//! The framed layout of one image's activation: each channel a `(H + 2) x (W + 2)` plane with
//! a border of zeros, the planes [`Frame::stride`] apart. A 3x3 convolution with stride 1 and
//! padding 1 reads it as its padded input (the wide layout of `wide.rs`, with no copy), and its
//! wide output, written one row and one column down, is the framed output once the two extra
//! columns of each row are zeroed ([`Frame::keep`]) and the top and bottom rows
//! ([`Frame::clear_edges`]): activations pass from layer to layer with no padding copy and no
//! copy out of the wide layout.

use crate::activation::Activation;
use crate::direct::MAX_TILE;

/// The geometry of one framed activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Frame {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Frame {
    /// Values of one framed row: the image's width and the left and right border.
    pub fn row(&self) -> usize {
        self.width + 2
    }

    /// Values of one channel's plane, borders included.
    pub fn plane(&self) -> usize {
        (self.height + 2) * self.row()
    }

    /// Values between the starts of two channels: the plane, the two values a 3x3 kernel's
    /// last tap reads past it, and the overrun of the direct kernel's last tile.
    pub fn stride(&self) -> usize {
        self.plane() + 2 + MAX_TILE
    }

    /// Values of the whole framed activation.
    pub fn len(&self) -> usize {
        self.channels * self.stride()
    }

    /// Values of the image without its frame.
    pub fn dense_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Where the image's first value lies in a channel's plane (row 1, column 1).
    pub fn origin(&self) -> usize {
        self.row() + 1
    }

    /// Each channel's plane in `framed`, borders included.
    pub fn planes<'a>(&self, framed: &'a [f32]) -> impl Iterator<Item = &'a [f32]> {
        let plane = self.plane();
        framed
            .chunks(self.stride())
            .take(self.channels)
            .map(move |c| &c[..plane])
    }

    /// Each channel's plane in `framed`, to change it.
    pub fn planes_mut<'a>(&self, framed: &'a mut [f32]) -> impl Iterator<Item = &'a mut [f32]> {
        let plane = self.plane();
        framed
            .chunks_mut(self.stride())
            .take(self.channels)
            .map(move |c| &mut c[..plane])
    }

    /// Writes the dense CHW image `x` into `framed`, with a border of zeros.
    pub fn pack(&self, x: &[f32], framed: &mut [f32]) {
        let (row, width) = (self.row(), self.width);
        let images = x.chunks_exact(self.height * width);
        for (plane, x) in self.planes_mut(framed).zip(images) {
            plane[..row].fill(0.0);
            for (to, from) in plane[row..]
                .chunks_exact_mut(row)
                .zip(x.chunks_exact(width))
            {
                to[0] = 0.0;
                to[1..=width].copy_from_slice(from);
                to[width + 1] = 0.0;
            }
            plane[(self.height + 1) * row..].fill(0.0);
        }
    }

    /// The dense CHW image held in `framed`, into `x`.
    pub fn unpack(&self, framed: &[f32], x: &mut [f32]) {
        let (row, width) = (self.row(), self.width);
        let images = x.chunks_exact_mut(self.height * width);
        for (plane, x) in self.planes(framed).zip(images) {
            for (from, to) in plane[row..]
                .chunks_exact(row)
                .zip(x.chunks_exact_mut(width))
            {
                to.copy_from_slice(&from[1..=width]);
            }
        }
    }

    /// Per vector of 16 columns of a wide output of this frame's size (`height` rows of
    /// [`Frame::row`] columns, and [`MAX_TILE`] more), the lanes that hold the image: written
    /// from [`Frame::origin`] with the others zeroed, the output needs only
    /// [`Frame::clear_edges`].
    pub fn keep(&self) -> Vec<u16> {
        let columns = self.height * self.row();
        let kept = |q: usize| q < columns && q % self.row() < self.width;
        (0..(columns + MAX_TILE).div_ceil(16))
            .map(|v| {
                (0..16)
                    .filter(|b| kept(16 * v + b))
                    .map(|b| 1u16 << b)
                    .sum()
            })
            .collect()
    }

    /// How many of `other`'s channels have zero edges ([`Frame::clear_edges`]) in a buffer
    /// that has them zero for this frame: its channels, on an image of the same size.
    pub fn zero_edges_for(&self, other: Frame) -> usize {
        if self.same_image(other) {
            self.channels.min(other.channels)
        } else {
            0
        }
    }

    /// The frame whose edges a buffer holds zero once a value of this frame is written there
    /// with zero edges, when it held them zero for `before`: the value's channels, and on an
    /// image of the same size those of `before` past them too, which the write leaves alone.
    pub fn edges_after(self, before: Option<Frame>) -> Frame {
        match before {
            Some(b) if b.same_image(self) => Frame {
                channels: self.channels.max(b.channels),
                ..self
            },
            _ => self,
        }
    }

    /// Whether `other` frames an image of this one's size (its planes lie alike).
    fn same_image(&self, other: Frame) -> bool {
        (self.height, self.width) == (other.height, other.width)
    }

    /// Zeroes each plane's top and bottom rows and the left border of its first image row
    /// (the border a wide output written from [`Frame::origin`] with [`Frame::keep`]
    /// leaves), from channel `first` on.
    pub fn clear_edges(&self, framed: &mut [f32], first: usize) {
        let (row, height) = (self.row(), self.height);
        for plane in self.planes_mut(framed).skip(first) {
            plane[..=row].fill(0.0);
            plane[(height + 1) * row..].fill(0.0);
        }
    }

    /// Rectifies every plane in place (the border stays zero, a NaN stays NaN).
    pub fn relu(&self, framed: &mut [f32]) {
        for plane in self.planes_mut(framed) {
            Activation::Relu.apply(plane);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_edges_are_known_per_image_size() {
        let frame = |channels, size| Frame {
            channels,
            height: size,
            width: size,
        };
        // Five channels over thirteen of one size: all thirteen keep zero edges.
        assert_eq!(frame(5, 28).edges_after(Some(frame(13, 28))), frame(13, 28));
        assert_eq!(frame(13, 28).edges_after(Some(frame(5, 28))), frame(13, 28));
        // Another size (or nothing known): only the value's own channels.
        assert_eq!(frame(9, 14).edges_after(Some(frame(13, 28))), frame(9, 14));
        assert_eq!(frame(9, 14).edges_after(None), frame(9, 14));
        assert_eq!(frame(13, 28).zero_edges_for(frame(5, 28)), 5);
        assert_eq!(frame(5, 28).zero_edges_for(frame(13, 28)), 5);
        assert_eq!(frame(26, 14).zero_edges_for(frame(9, 7)), 0);
    }

    #[test]
    fn pack_and_unpack_keep_the_image_and_a_zero_border() {
        let frame = Frame {
            channels: 2,
            height: 3,
            width: 4,
        };
        let x: Vec<f32> = (1..=24).map(|v| v as f32).collect();
        let mut framed = vec![f32::NAN; frame.len()];
        frame.pack(&x, &mut framed);
        let sum: f32 = frame.planes(&framed).flatten().sum();
        assert_eq!(sum, x.iter().sum::<f32>());
        assert_eq!(framed[frame.origin()], 1.0);
        assert_eq!(framed[frame.stride() + frame.origin() + frame.row()], 17.0);
        let mut back = vec![0.0; frame.dense_len()];
        frame.unpack(&framed, &mut back);
        assert_eq!(back, x);
        // A wide output of 3 rows of 6 columns: lanes 0-3, 6-9 and 12-15 hold the image.
        assert_eq!(frame.keep()[0], 0b1111_0011_1100_1111);
        assert!(frame.keep()[1..].iter().all(|k| *k == 0));
        frame.clear_edges(&mut framed, 0);
        frame.unpack(&framed, &mut back);
        assert_eq!(back, x);
    }

    proptest::proptest! {
        #[test]
        fn clearing_zeroes_the_top_and_bottom_rows_and_nothing_else(
            channels in 1usize..5, height in 1usize..40, width in 1usize..40, first in 0usize..5,
        ) {
            let frame = Frame { channels, height, width };
            let mut framed = vec![1.0; frame.len()];
            frame.clear_edges(&mut framed, first);
            let (row, plane) = (frame.row(), frame.plane());
            for (i, v) in framed.iter().enumerate() {
                let (c, at) = (i / frame.stride(), i % frame.stride());
                let edge = at <= row || (at >= (height + 1) * row && at < plane);
                proptest::prop_assert_eq!(*v, if c >= first && edge { 0.0 } else { 1.0 }, "{}", i);
            }
        }
    }
}
