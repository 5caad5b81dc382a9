//! shears' CPU kernel layer as a burn backend extension: on the flex backend, convolution,
//! training-mode batch norm and the residual add run on `shears_kernels` (direct AVX-512
//! convolution, or im2col + GEMM), each with a ReLU fused where the network asks and with its
//! own backward pass under autodiff. Other backends keep burn's ops ([`runs_on`] decides).

use burn::backend::{
    AutodiffBackend, Backend, DispatchDevice, Flex, TensorMetadata, backend_extension,
    tensor::FloatTensor,
};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Device, Tensor, TensorData};
use burn_autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn_flex::FlexTensor;
use shears_kernels::{Activation, BatchNorm, Conv2d};

/// Operations shears computes with its own kernels.
#[backend_extension(Flex, Autodiff)]
pub trait KernelOps: Backend {
    /// `activation(conv2d(x, weight) + bias)` (`bias` zeros for a layer without one).
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        activation: Activation,
    ) -> FloatTensor<Self>;

    /// `activation(a + b)` for two tensors of one shape.
    fn fused_add(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        activation: Activation,
    ) -> FloatTensor<Self>;

    /// Batch norm with batch statistics, then `activation`: the output, the batch mean and the
    /// biased variance.
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        activation: Activation,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether [`conv2d`] and [`batch_norm_train`] run on shears' kernels on `device` (flex).
pub fn runs_on(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        DispatchDevice::Flex(_)
    )
}

/// `activation(conv2d(x, weight) + bias)` on shears' kernels; only for a device where
/// [`runs_on`] holds.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    options: ConvOptions<2>,
    activation: Activation,
) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as KernelOps>::gemm_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
        activation,
    ))
}

/// `activation(a + b)` for two tensors of one shape, on shears' kernels; only for a device
/// where [`runs_on`] holds.
pub fn add(a: Tensor<4>, b: Tensor<4>, activation: Activation) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as KernelOps>::fused_add(
        a.into_dispatch(),
        b.into_dispatch(),
        activation,
    ))
}

/// Batch norm with batch statistics on shears' kernels, then `activation`: the output, the
/// batch mean and the biased variance; only for a device where [`runs_on`] holds.
pub fn batch_norm_train(
    x: Tensor<4>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
    activation: Activation,
) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let (y, mean, var) = <burn::backend::Dispatch as KernelOps>::fused_batch_norm_train(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
        activation,
    );
    (
        Tensor::from_dispatch(y),
        Tensor::from_dispatch(mean),
        Tensor::from_dispatch(var),
    )
}

fn norm_layout(x: &[usize]) -> BatchNorm {
    BatchNorm {
        batch: x[0],
        channels: x[1],
        plane: x[2..].iter().product(),
    }
}

/// The kernels' description of a conv of `x` (NCHW dims) by `w` (`[out, in / groups, kh, kw]`).
pub(crate) fn geometry(x: &[usize], w: &[usize], options: &ConvOptions<2>) -> Conv2d {
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
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("contiguous")
                .to_vec(),
        ),
    }
}

fn tensor(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl KernelOps for Flex {
    fn gemm_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<2>,
        activation: Activation,
    ) -> FlexTensor {
        let conv = geometry(&dims(&x), &dims(&weight), &options);
        let (x, w, b) = (values(&x), values(&weight), values(&bias));
        let y = conv.forward_output(&x, &w, Some(&b), activation);
        let [oh, ow] = conv.out_size();
        tensor(y, vec![conv.batch, conv.out_channels, oh, ow])
    }

    fn fused_add(a: FlexTensor, b: FlexTensor, activation: Activation) -> FlexTensor {
        let y = shears_kernels::add(&values(&a), &values(&b), activation);
        tensor(y, dims(&a))
    }

    fn fused_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        activation: Activation,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let x_dims = dims(&x);
        let channels = x_dims[1];
        let (y, mean, var) = norm_layout(&x_dims).forward_then(
            &values(&x),
            [&values(&gamma), &values(&beta)],
            epsilon,
            activation,
        );
        (
            tensor(y, x_dims),
            tensor(mean, vec![channels]),
            tensor(var, vec![channels]),
        )
    }
}

/// The backward pass of [`KernelOps::fused_batch_norm_train`]: input, scale and shift gradients.
#[derive(Debug)]
struct BatchNormBackward;

/// What [`BatchNormBackward`] keeps from the forward pass.
#[derive(Clone, Debug)]
struct BatchNormState {
    x: NodeId,
    gamma: NodeId,
    /// The shift, which the activation's mask is recomputed with.
    beta: FlexTensor,
    mean: FlexTensor,
    var: FlexTensor,
    epsilon: f64,
    activation: Activation,
}

impl Backward<Flex, 3> for BatchNormBackward {
    type State = BatchNormState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let state = ops.state;
        let x = checkpointer.retrieve_node_output::<FlexTensor>(state.x);
        let gamma = checkpointer.retrieve_node_output::<FlexTensor>(state.gamma);
        let x_dims = dims(&x);
        let channels = x_dims[1];
        let g = norm_layout(&x_dims).backward_then(
            &values(&x),
            [&values(&gamma), &values(&state.beta)],
            [&values(&state.mean), &values(&state.var)],
            state.epsilon,
            &values(&dy),
            state.activation,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(g.x, x_dims));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(g.gamma, vec![channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(g.beta, vec![channels]));
        }
    }
}

/// The backward pass of [`KernelOps::gemm_conv2d`]: input, weight and bias gradients.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    /// The input, the weight, the options and the output when a ReLU was applied to it.
    type State = (NodeId, NodeId, ConvOptions<2>, Option<FlexTensor>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w, node_b] = ops.parents;
        let (x_state, w_state, options, relu_output) = ops.state;
        let dy = through_relu(relu_output.as_ref(), grads.consume::<Flex>(&ops.node));
        let x = checkpointer.retrieve_node_output::<FlexTensor>(x_state);
        let w = checkpointer.retrieve_node_output::<FlexTensor>(w_state);
        let (x_dims, w_dims) = (dims(&x), dims(&w));
        let conv = geometry(&x_dims, &w_dims, &options);
        let dy_values = values(&dy);
        if let Some(node) = node_x {
            let dx = conv.input_gradient(&values(&w), &dy_values);
            grads.register::<Flex>(node.id, tensor(dx, x_dims));
        }
        if let Some(node) = node_w {
            let dw = conv.weight_gradient(&values(&x), &dy_values);
            grads.register::<Flex>(node.id, tensor(dw, w_dims));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(
                node.id,
                tensor(conv.backward_bias(&dy_values), vec![conv.out_channels]),
            );
        }
    }
}

/// The backward pass of [`KernelOps::fused_add`]: the output gradient, passed back through
/// the ReLU when there was one, is each input's gradient.
#[derive(Debug)]
struct AddBackward;

impl Backward<Flex, 2> for AddBackward {
    /// The output, when a ReLU was applied to it.
    type State = Option<FlexTensor>;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let dy = through_relu(ops.state.as_ref(), grads.consume::<Flex>(&ops.node));
        for node in ops.parents.into_iter().flatten() {
            grads.register::<Flex>(node.id, dy.clone());
        }
    }
}

/// The gradient `dy` of a layer's output passed back through the ReLU the layer's kernel
/// applied, given the rectified output (`None`: no ReLU, `dy` itself).
fn through_relu(relu_output: Option<&FlexTensor>, dy: FlexTensor) -> FlexTensor {
    match relu_output {
        None => dy,
        Some(y) => tensor(
            shears_kernels::relu_gradient(&values(y), &values(&dy)),
            dims(&dy),
        ),
    }
}

impl<C: CheckpointStrategy> KernelOps for Autodiff<Flex, C> {
    /// A tracked convolution with a ReLU keeps its output for the ReLU's backward pass.
    fn gemm_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
        activation: Activation,
    ) -> FloatTensor<Self> {
        match ConvBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                let y = Flex::gemm_conv2d(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    options.clone(),
                    activation,
                );
                let relu_output = (activation == Activation::Relu).then(|| y.clone());
                prep.finish((x_state, w_state, options, relu_output), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::gemm_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                options,
                activation,
            )),
        }
    }

    /// A tracked add with a ReLU keeps its output for the ReLU's backward pass.
    fn fused_add(
        a: FloatTensor<Self>,
        b: FloatTensor<Self>,
        activation: Activation,
    ) -> FloatTensor<Self> {
        match AddBackward
            .prepare::<C>([a.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = Flex::fused_add(a.into_primitive(), b.into_primitive(), activation);
                let relu_output = (activation == Activation::Relu).then(|| y.clone());
                prep.finish(relu_output, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(Flex::fused_add(
                a.into_primitive(),
                b.into_primitive(),
                activation,
            )),
        }
    }

    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        activation: Activation,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let prepared = BatchNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (y, mean, var) = match prepared {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let beta = beta.into_primitive();
                let (y, mean, var) = Flex::fused_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.clone(),
                    epsilon,
                    activation,
                );
                let state = BatchNormState {
                    x: x_state,
                    gamma: gamma_state,
                    beta,
                    mean: mean.clone(),
                    var: var.clone(),
                    epsilon,
                    activation,
                };
                (prep.finish(state, y), mean, var)
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, var) = Flex::fused_batch_norm_train(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    activation,
                );
                (prep.finish(y), mean, var)
            }
        };
        (y, Self::from_inner(mean), Self::from_inner(var))
    }
}
