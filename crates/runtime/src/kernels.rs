//! shears' CPU kernel layer as a burn backend extension: convolution runs on
//! `shears_kernels` (im2col + AVX-512 GEMM) on the flex backend, with its own backward pass
//! under autodiff. Other backends keep burn's convolution ([`fast_conv2d`] decides).

use burn_autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::backend::{Backend, DispatchDevice, Flex, TensorMetadata, backend_extension, tensor::FloatTensor};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_flex::FlexTensor;
use shears_kernels::Conv2d;

/// Operations shears computes with its own kernels.
#[backend_extension(Flex, Autodiff)]
pub trait KernelOps: Backend {
    /// `conv2d(x, weight) + bias` (`bias` zeros for a layer without one).
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self>;
}

/// Whether [`conv2d`] runs on shears' kernels on `device` (flex, f32).
pub fn fast_conv2d(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// `conv2d(x, weight) + bias` on shears' kernels; only for a device where [`fast_conv2d`] holds.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, options: ConvOptions<2>) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as KernelOps>::gemm_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
    ))
}

fn geometry(x: &[usize], w: &[usize], options: &ConvOptions<2>) -> Conv2d {
    Conv2d {
        batch: x[0],
        in_channels: x[1],
        in_size: [x[2], x[3]],
        out_channels: w[0],
        kernel: [w[2], w[3]],
        stride: options.stride,
        padding: options.padding,
        dilation: options.dilation,
        groups: options.groups,
    }
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.shape().iter().copied().collect()
}

/// The tensor's values, contiguous (copied only when they are not already).
fn values(t: &FlexTensor) -> std::borrow::Cow<'_, [f32]> {
    assert_eq!(t.dtype(), DType::F32, "shears' kernels run in f32");
    match t.as_slice::<f32>() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous").to_vec()),
    }
}

fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl KernelOps for Flex {
    fn gemm_conv2d(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, options: ConvOptions<2>) -> FlexTensor {
        let conv = geometry(&dims(&x), &dims(&weight), &options);
        let [_, _, len] = conv.lens();
        let mut y = vec![0.0; len];
        conv.forward(&values(&x), &values(&weight), Some(&values(&bias)), &mut y);
        let [oh, ow] = conv.out_size();
        tensor(y, vec![conv.batch, conv.out_channels, oh, ow])
    }
}

/// The backward pass of [`KernelOps::gemm_conv2d`]: input, weight and bias gradients.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    type State = (NodeId, NodeId, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x_state, w_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let w = checkpointer.retrieve_node_output::<FlexTensor>(w_state);
        let (x_dims, w_dims) = (dims(&x), dims(&w));
        let conv = geometry(&x_dims, &w_dims, &options);
        let [x_len, w_len, _] = conv.lens();
        let dy_values = values(&dy);
        if let Some(node) = node_x {
            let mut dx = vec![0.0; x_len];
            conv.backward_input(&values(&w), &dy_values, &mut dx);
            grads.register::<Flex>(node.id, tensor(dx, x_dims));
        }
        if let Some(node) = node_w {
            let mut dw = vec![0.0; w_len];
            conv.backward_weight(&values(&x), &dy_values, &mut dw);
            grads.register::<Flex>(node.id, tensor(dw, w_dims));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(conv.backward_bias(&dy_values), vec![conv.out_channels]));
        }
    }
}

impl<C: CheckpointStrategy> KernelOps for Autodiff<Flex, C> {
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = Flex::gemm_conv2d(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), options.clone());
                prep.finish((x_state, w_state, options), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::gemm_conv2d(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), options))
            }
        }
    }
}
