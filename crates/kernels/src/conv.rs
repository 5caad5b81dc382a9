//! 2-D convolution on NCHW `f32` slices: forward, input gradient and weight gradient.

use crate::activation::Activation;
use crate::buffer::written;
use crate::direct;
use crate::matmul::{Mat, matmul, transpose_blocks};
use crate::patches::{Axis, col2im, im2col};
use crate::wide::Wide;
use rayon::prelude::*;

/// Images whose patch matrices one weight-gradient GEMM takes side by side.
const WEIGHT_BATCH: usize = 2;

/// The direct weight-gradient kernel runs on stride-1 maps of at least this many wide
/// columns; on smaller ones (an 8x8 map has 80) it loses to GEMM even over many images at
/// once (measured: 6.1 against 3.5 ms on ResNet-20's 64-channel 8x8 layer at batch 128), and
/// on phase planes too (3.6 against 3.0 ms on its 16-to-32-channel stride-2 layer).
const DIRECT_WEIGHT_COLUMNS: usize = 256;

/// Wide columns the direct weight-gradient kernel sums before it reduces its registers: the
/// columns of this many images' maps together (at most a task's share of the batch).
const WEIGHT_REDUCTION_COLUMNS: usize = 2048;

/// The geometry of one convolution: `weight` is `[out_channels, in_channels / groups, kh, kw]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub batch: usize,
    pub in_channels: usize,
    /// Input height and width.
    pub in_size: [usize; 2],
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// `(begin, end)` padding of height and width.
    pub padding: [(usize, usize); 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Conv2d {
    /// Output height and width.
    pub fn out_size(&self) -> [usize; 2] {
        std::array::from_fn(|i| {
            let (begin, end) = self.padding[i];
            let span = self.dilation[i] * (self.kernel[i] - 1) + 1;
            (self.in_size[i] + begin + end - span) / self.stride[i] + 1
        })
    }

    /// Elements of the input, weight and output tensors.
    pub fn lens(&self) -> [usize; 3] {
        let [oh, ow] = self.out_size();
        [
            self.batch * self.in_channels * self.in_size[0] * self.in_size[1],
            self.out_channels * self.patch_len(),
            self.batch * self.out_channels * oh * ow,
        ]
    }

    pub(crate) fn group_in(&self) -> usize {
        self.in_channels / self.groups
    }

    pub(crate) fn group_out(&self) -> usize {
        self.out_channels / self.groups
    }

    /// K: rows of one group's patch matrix.
    pub(crate) fn patch_len(&self) -> usize {
        self.group_in() * self.kernel[0] * self.kernel[1]
    }

    /// P: output positions of one image.
    fn positions(&self) -> usize {
        let [oh, ow] = self.out_size();
        oh * ow
    }

    pub(crate) fn plane(&self) -> usize {
        self.in_size[0] * self.in_size[1]
    }

    fn axes(&self) -> [Axis; 2] {
        let out = self.out_size();
        std::array::from_fn(|i| Axis {
            input: self.in_size[i],
            output: out[i],
            kernel: self.kernel[i],
            stride: self.stride[i],
            pad: self.padding[i].0,
            dilation: self.dilation[i],
        })
    }

    /// The wide layout for a kernel larger than 1x1; a 1x1 kernel reads its input as the
    /// patch matrix (stride 1) or a subsample of it (im2col), with no taps to share a copy.
    fn wide(&self) -> Option<Wide> {
        (self.kernel != [1, 1]).then(|| Wide::of(self))
    }

    /// A 1x1, stride-1, unpadded convolution reads its input as the patch matrix itself.
    fn pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [(0, 0); 2]
    }

    fn check(&self, x: usize, w: usize, y: usize) {
        assert!(
            self.groups > 0
                && self.in_channels % self.groups == 0
                && self.out_channels % self.groups == 0,
            "conv: channels must divide into groups"
        );
        assert_eq!(
            [x, w, y],
            self.lens(),
            "conv: slice lengths do not match the geometry"
        );
    }

    /// Group `g`'s patch matrix of one image `x`: `x` itself for a pointwise convolution,
    /// else written into `col` (zeroed, or last written by this convolution).
    fn patches<'a>(&self, x: &'a [f32], g: usize, col: &'a mut [f32]) -> Mat<'a> {
        let (k, p) = (self.patch_len(), self.positions());
        let x = &x[g * self.group_in() * self.plane()..][..self.group_in() * self.plane()];
        if self.pointwise() {
            return Mat::rows(x, k, p);
        }
        im2col(x, self.group_in(), self.axes(), col, p);
        Mat::rows(col, k, p)
    }

    pub(crate) fn group_weight<'a>(&self, w: &'a [f32], g: usize) -> Mat<'a> {
        let (m, k) = (self.group_out(), self.patch_len());
        Mat::rows(&w[g * m * k..(g + 1) * m * k], m, k)
    }

    pub(crate) fn scratch(&self) -> Vec<f32> {
        if self.pointwise() {
            Vec::new()
        } else {
            vec![0.0; self.patch_len() * self.positions()]
        }
    }

    /// `y = conv(x, w) + bias`.
    pub fn forward(&self, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        self.forward_then(x, w, bias, Activation::None, y)
    }

    /// [`Conv2d::forward`] with `activation` applied to each image's output while it is still
    /// in cache.
    pub fn forward_then(
        &self,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        activation: Activation,
        y: &mut [f32],
    ) {
        self.check(x.len(), w.len(), y.len());
        let image_in = self.in_channels * self.plane();
        let image_out = self.out_channels * self.positions();
        let images = y
            .par_chunks_mut(image_out.max(1))
            .zip(x.par_chunks(image_in.max(1)));
        match self.wide() {
            Some(wide) => {
                let direct = wide.direct_weights(self, w);
                images.for_each_init(
                    || wide.scratch(self, direct.is_some(), 1),
                    |s, (y, x)| {
                        wide.forward_image(self, [x, w], direct.as_deref(), bias, y, s);
                        activation.apply(y);
                    },
                )
            }
            None => images.for_each_init(
                || self.scratch(),
                |col, (y, x)| {
                    self.forward_image(x, w, bias, y, col);
                    activation.apply(y);
                },
            ),
        }
    }

    /// [`Conv2d::forward_then`] into a new vector, allocated without a zero fill.
    pub fn forward_output(
        &self,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        activation: Activation,
    ) -> Vec<f32> {
        // SAFETY: every path of `forward_then` writes each image's output (the wide layout's
        // rows, or a GEMM that overwrites unless the bias was written first) before reading it.
        unsafe {
            written(self.lens()[2], |y| {
                self.forward_then(x, w, bias, activation, y)
            })
        }
    }

    /// [`Conv2d::backward_input`] into a new vector, allocated without a zero fill.
    pub fn input_gradient(&self, w: &[f32], dy: &[f32]) -> Vec<f32> {
        // SAFETY: `backward_input` is a forward pass (see `forward_output`), a GEMM that
        // overwrites, or col2im after a zero fill of the image.
        unsafe { written(self.lens()[0], |dx| self.backward_input(w, dy, dx)) }
    }

    /// [`Conv2d::backward_weight`] into a new vector, allocated without a zero fill.
    pub fn weight_gradient(&self, x: &[f32], dy: &[f32]) -> Vec<f32> {
        // SAFETY: `backward_weight` ends by copying the whole gradient into `dw`.
        unsafe { written(self.lens()[1], |dw| self.backward_weight(x, dy, dw)) }
    }

    pub(crate) fn forward_image(
        &self,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        y: &mut [f32],
        col: &mut [f32],
    ) {
        let (m, p) = (self.group_out(), self.positions());
        for (g, y) in y.chunks_exact_mut(m * p).enumerate() {
            if let Some(bias) = bias {
                for (row, b) in y.chunks_exact_mut(p).zip(&bias[g * m..(g + 1) * m]) {
                    row.fill(*b);
                }
            }
            let patches = self.patches(x, g, col);
            matmul(y, self.group_weight(w, g), patches, bias.is_some());
        }
    }

    /// `dx`, the gradient of the input, from the output gradient `dy`.
    ///
    /// With stride 1 this is itself a convolution (of `dy`, by the flipped and transposed
    /// weight), which runs as a forward pass; otherwise GEMM and col2im.
    pub fn backward_input(&self, w: &[f32], dy: &[f32], dx: &mut [f32]) {
        self.check(dx.len(), w.len(), dy.len());
        if let Some(transposed) = self.transposed() {
            return transposed.forward(dy, &self.flipped_weight(w), None, dx);
        }
        let image_in = self.in_channels * self.plane();
        let image_out = self.out_channels * self.positions();
        dx.par_chunks_mut(image_in.max(1))
            .zip(dy.par_chunks(image_out.max(1)))
            .for_each_init(
                || self.scratch(),
                |col, (dx, dy)| self.backward_image(w, dy, dx, col),
            );
    }

    /// The convolution whose forward pass is this one's input gradient, for stride 1 and
    /// padding no wider than the kernel's reach.
    fn transposed(&self) -> Option<Conv2d> {
        if self.stride != [1, 1] {
            return None;
        }
        let mut padding = [(0, 0); 2];
        for (i, pad) in padding.iter_mut().enumerate() {
            let reach = self.dilation[i] * (self.kernel[i] - 1);
            let (begin, end) = self.padding[i];
            *pad = (reach.checked_sub(begin)?, reach.checked_sub(end)?);
        }
        Some(Conv2d {
            in_channels: self.out_channels,
            in_size: self.out_size(),
            out_channels: self.in_channels,
            padding,
            ..*self
        })
    }

    /// The weight of [`Conv2d::transposed`]: per group, input and output channels swapped and
    /// the kernel rotated by 180 degrees.
    fn flipped_weight(&self, w: &[f32]) -> Vec<f32> {
        let [kh, kw] = self.kernel;
        let (m, c_in) = (self.group_out(), self.group_in());
        let mut flipped = vec![0.0; w.len()];
        for g in 0..self.groups {
            for o in 0..m {
                for c in 0..c_in {
                    let from = &w[((g * m + o) * c_in + c) * kh * kw..][..kh * kw];
                    let to = &mut flipped[((g * c_in + c) * m + o) * kh * kw..][..kh * kw];
                    to.iter_mut()
                        .zip(from.iter().rev())
                        .for_each(|(t, f)| *t = *f);
                }
            }
        }
        flipped
    }

    fn backward_image(&self, w: &[f32], dy: &[f32], dx: &mut [f32], col: &mut [f32]) {
        let (m, p, c) = (
            self.group_out(),
            self.positions(),
            self.group_in() * self.plane(),
        );
        for (g, dx) in dx.chunks_exact_mut(c).enumerate() {
            let dy = Mat::rows(&dy[g * m * p..(g + 1) * m * p], m, p);
            let wt = self.group_weight(w, g).t();
            if self.pointwise() {
                matmul(dx, wt, dy, false);
            } else {
                matmul(col, wt, dy, false);
                dx.fill(0.0);
                col2im(col, self.group_in(), self.axes(), dx);
            }
        }
    }

    /// `dw`, the gradient of the weight, from the input `x` and the output gradient `dy`.
    ///
    /// Each thread takes a share of the batch. A stride-1 convolution on an AVX-512 CPU with
    /// feature maps of at least [`DIRECT_WEIGHT_COLUMNS`] wide columns runs the direct kernel
    /// on the wide layout; otherwise [`WEIGHT_BATCH`] images' patch matrices
    /// at a time, side by side, go through one GEMM with a long inner dimension.
    pub fn backward_weight(&self, x: &[f32], dy: &[f32], dw: &mut [f32]) {
        self.check(x.len(), dw.len(), dy.len());
        let image_in = (self.in_channels * self.plane()).max(1);
        let image_out = (self.out_channels * self.positions()).max(1);
        let per_task = self.batch.div_ceil(rayon::current_num_threads()).max(1);
        let direct = self.wide().filter(|w| {
            self.stride == [1, 1] && direct::available() && w.columns() >= DIRECT_WEIGHT_COLUMNS
        });
        let partials: Vec<Vec<f32>> = x
            .par_chunks(per_task * image_in)
            .zip(dy.par_chunks(per_task * image_out))
            .map(|(xs, dys)| {
                let mut dw_t = vec![0.0; dw.len()];
                if let Some(wide) = direct {
                    let images = (WEIGHT_REDUCTION_COLUMNS / wide.columns()).clamp(1, per_task);
                    let mut scratch = wide.scratch(self, true, images);
                    for (xs, dys) in xs
                        .chunks(images * image_in)
                        .zip(dys.chunks(images * image_out))
                    {
                        wide.weight_images(self, [xs, dys], &mut dw_t, &mut scratch);
                    }
                    return dw_t;
                }
                let width = WEIGHT_BATCH.min(per_task) * self.positions();
                let mut col = vec![0.0; self.patch_len() * width];
                let mut dy_rows = vec![0.0; self.group_out() * width];
                let images = xs
                    .chunks(WEIGHT_BATCH * image_in)
                    .zip(dys.chunks(WEIGHT_BATCH * image_out));
                for (xs, dys) in images {
                    self.weight_images(xs, dys, &mut dw_t, &mut col, &mut dy_rows);
                }
                dw_t
            })
            .collect();
        let mut dw_t = vec![0.0; dw.len()];
        for partial in partials {
            dw_t.iter_mut().zip(partial).for_each(|(a, b)| *a += b);
        }
        let (m, k) = (self.group_out(), self.patch_len());
        dw.copy_from_slice(&transpose_blocks(&dw_t, self.groups, k, m));
    }

    /// Adds the weight gradient of a few images to `dw_t`, which holds each group's gradient
    /// transposed (`[K, m]`: GEMM runs fastest with the long patch matrix on the left). The
    /// images' patch matrices sit side by side in `col` (`[K, images * P]`), their output
    /// gradients in `dy_rows` (`[m, images * P]`).
    fn weight_images(
        &self,
        xs: &[f32],
        dys: &[f32],
        dw_t: &mut [f32],
        col: &mut [f32],
        dy_rows: &mut [f32],
    ) {
        let (m, p, k) = (self.group_out(), self.positions(), self.patch_len());
        let (image_in, image_out) = (self.in_channels * self.plane(), self.out_channels * p);
        let images = xs.len() / image_in.max(1);
        let width = images * p;
        let group_in = self.group_in() * self.plane();
        for (g, dw_t) in dw_t.chunks_exact_mut(m * k).enumerate() {
            for (i, (x, dy)) in xs
                .chunks_exact(image_in)
                .zip(dys.chunks_exact(image_out))
                .enumerate()
            {
                im2col(
                    &x[g * group_in..][..group_in],
                    self.group_in(),
                    self.axes(),
                    &mut col[i * p..],
                    width,
                );
                for (r, row) in dy[g * m * p..][..m * p].chunks_exact(p.max(1)).enumerate() {
                    dy_rows[r * width + i * p..][..p].copy_from_slice(row);
                }
            }
            let dy = Mat::rows(&dy_rows[..m * width], m, width);
            matmul(dw_t, Mat::rows(&col[..k * width], k, width), dy.t(), true);
        }
    }

    /// The gradient of the bias: `dy` summed over the batch and the output positions.
    pub fn backward_bias(&self, dy: &[f32]) -> Vec<f32> {
        let p = self.positions();
        let mut db = vec![0.0f32; self.out_channels];
        for image in dy.chunks_exact((self.out_channels * p).max(1)) {
            for (d, row) in db.iter_mut().zip(image.chunks_exact(p.max(1))) {
                *d += row.iter().sum::<f32>();
            }
        }
        db
    }
}
