//! Removing or zeroing channels of one op, derived from its [`ChannelWeight`]s and its
//! [`ChannelRule`]: weight slices along channel axes go, and attributes that name channels (a
//! permutation, a slice's bounds, a depthwise conv's group count) follow.
//!
//! Channels are given as element indices of axis 0 of the values: `out` of the op's output,
//! `input` of its input 0 (a flattened channel is its `H * W` features, which is what a linear
//! layer's columns index). Both lists are sorted and distinct.

use crate::rules::{ChannelRule, ChannelWeight, Side};
use crate::{Array, Conv2d, ConvTranspose2d, Op};

impl Op {
    /// The op without output channels `out` and input channels `input`, or `None` when the op
    /// holds nothing those channels index.
    pub fn without_channels(&self, out: &[usize], input: &[usize]) -> Option<Op> {
        let cuts = self.weight_cuts(out, input);
        let mut op = match self.channel_rule() {
            ChannelRule::Permute(order) if !input.is_empty() => Op::PermuteChannels {
                order: renumber(order, input),
            },
            ChannelRule::Slice { start, end } if !input.is_empty() => {
                let before = |i: usize| input.partition_point(|&g| g < i);
                Op::Slice {
                    axis: 1,
                    start: start - before(start),
                    end: end - before(end),
                }
            }
            _ if cuts.is_empty() => return None,
            _ => self.clone(),
        };
        let depthwise = self.channel_rule() == ChannelRule::PassThrough;
        let mut arrays = op.arrays_mut();
        for (w, indices) in &cuts {
            *arrays[w.array] = arrays[w.array].without(w.axis, indices);
        }
        match &mut op {
            // A depthwise conv has one group per channel.
            Op::Conv2d(Conv2d { groups, weight, .. })
            | Op::ConvTranspose2d(ConvTranspose2d { groups, weight, .. })
                if depthwise =>
            {
                *groups = weight.shape[0]
            }
            _ => {}
        }
        Some(op)
    }

    /// Zeroes the slices of output channels `out` and input channels `input` in every weight
    /// whose role is masked, keeping all shapes.
    pub fn zero_channels(&mut self, out: &[usize], input: &[usize]) {
        self.clear_channels(out, input, Array::zero_along);
    }

    /// [`Op::zero_channels`], and masks those slices so that training keeps them at zero.
    pub fn freeze_channels(&mut self, out: &[usize], input: &[usize]) {
        self.clear_channels(out, input, Array::restrict_along);
    }

    fn clear_channels(
        &mut self,
        out: &[usize],
        input: &[usize],
        clear: fn(&mut Array, usize, &[usize]),
    ) {
        let cuts = self.weight_cuts(out, input);
        let mut arrays = self.arrays_mut();
        for (w, indices) in cuts {
            if w.role.masked() {
                clear(arrays[w.array], w.axis, &indices);
            }
        }
    }

    /// The indices each channel axis of the op's weights loses, for the axes that lose any.
    fn weight_cuts(&self, out: &[usize], input: &[usize]) -> Vec<(ChannelWeight, Vec<usize>)> {
        let arrays = self.arrays();
        self.channel_weights()
            .into_iter()
            .filter_map(|w| {
                let channels = match w.side {
                    Side::Out => out,
                    Side::In => input,
                };
                let indices = if w.per_block {
                    // Channel `j` of every block is index `j` of the axis.
                    let len = arrays[w.array].shape[w.axis];
                    let mut v: Vec<usize> = channels.iter().map(|c| c % len).collect();
                    v.sort_unstable();
                    v.dedup();
                    v
                } else {
                    channels.to_vec()
                };
                (!indices.is_empty()).then_some((w, indices))
            })
            .collect()
    }
}

/// `order` without the channels `gone` of its input, renumbered to the input that remains.
fn renumber(order: &[usize], gone: &[usize]) -> Vec<usize> {
    order
        .iter()
        .filter(|c| gone.binary_search(c).is_err())
        .map(|&c| c - gone.partition_point(|&g| g < c))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::{Array, Conv2d, Op};

    fn conv(out: usize, per_group: usize, groups: usize) -> Op {
        let n = out * per_group * 9;
        Op::Conv2d(Conv2d {
            weight: Array::new(
                vec![out, per_group, 3, 3],
                (0..n).map(|v| v as f32).collect(),
            ),
            bias: Some(Array::zeros(vec![out])),
            stride: [1, 1],
            padding: [1; 4],
            dilation: [1, 1],
            groups,
        })
    }

    #[test]
    fn a_conv_loses_filters_and_input_slices() {
        let Some(Op::Conv2d(c)) = conv(4, 3, 1).without_channels(&[1], &[0, 2]) else {
            panic!()
        };
        assert_eq!(c.weight.shape, vec![3, 1, 3, 3]);
        assert_eq!(c.bias.unwrap().shape, vec![3]);
        // Filter 0 keeps its input channel 1: elements 9..18.
        assert_eq!(
            c.weight.data[..9],
            (9..18).map(|v| v as f32).collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn a_depthwise_conv_loses_one_group_per_channel() {
        let Some(Op::Conv2d(c)) = conv(4, 1, 4).without_channels(&[0, 3], &[0, 3]) else {
            panic!()
        };
        assert_eq!((c.weight.shape[0], c.groups), (2, 2));
    }

    #[test]
    fn a_grouped_conv_loses_the_same_column_in_every_group() {
        // 2 groups of 3 input channels; channel 1 of each group goes.
        let Some(Op::Conv2d(c)) = conv(4, 3, 2).without_channels(&[], &[1, 4]) else {
            panic!()
        };
        assert_eq!((c.weight.shape[1], c.groups), (2, 2));
    }

    #[test]
    fn permutations_and_slices_follow_their_input() {
        let p = Op::PermuteChannels {
            order: vec![3, 0, 2, 1],
        };
        assert_eq!(
            p.without_channels(&[0, 3], &[0, 3]),
            Some(Op::PermuteChannels { order: vec![1, 0] })
        );
        let s = Op::Slice {
            axis: 1,
            start: 2,
            end: 5,
        };
        assert_eq!(
            s.without_channels(&[0], &[0, 2]),
            Some(Op::Slice {
                axis: 1,
                start: 1,
                end: 3
            })
        );
        assert_eq!(Op::Relu.without_channels(&[1], &[1]), None);
    }

    #[test]
    fn zeroing_keeps_statistics() {
        let mut bn = Op::BatchNorm2d(crate::BatchNorm2d {
            gamma: Array::full(vec![3], 1.0),
            beta: Array::full(vec![3], 1.0),
            mean: Array::full(vec![3], 1.0),
            var: Array::full(vec![3], 1.0),
            eps: 1e-5,
            momentum: 0.1,
        });
        bn.zero_channels(&[1], &[1]);
        let arrays = bn.arrays();
        assert_eq!(arrays[0].data, vec![1.0, 0.0, 1.0]);
        assert_eq!(arrays[1].data, vec![1.0, 0.0, 1.0]);
        assert_eq!(arrays[2].data, vec![1.0; 3]);
    }
}
