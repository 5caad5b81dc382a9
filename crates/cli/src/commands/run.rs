//! `shears run MODEL --input X.pb [-o Y.pb]`: the model's output on one input batch, to check
//! shears against another runtime (ONNX Runtime, PyTorch) on the same tensors.

use crate::args::RunArgs;
use crate::model;
use crate::output::Outputs;
use anyhow::{Context, Result, bail};
use shears_ir::Array;
use shears_runtime::{DeviceKind, Mode, Network, host_values};

pub fn run(args: &RunArgs) -> Result<()> {
    let mut outputs = Outputs::new(args.force);
    outputs
        .model_input(&args.model.model)
        .input(&args.input, "input tensor");
    if let Some(out) = &args.output {
        outputs.file(out, "-o");
    }
    outputs.claim()?;
    let graph = model::load(&args.model, None)?;
    let input = shears_onnx::load_tensor_file(&args.input)
        .with_context(|| format!("cannot read the input tensor '{}'", args.input.display()))?;
    let sample = graph.input_shape().unwrap_or_default().to_vec();
    if input.shape.len() != sample.len() + 1 || input.shape[1..] != sample[..] {
        bail!(
            "the input '{}' has shape {:?}, but the model takes [N, {}]",
            args.input.display(),
            input.shape,
            sample
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let n = input.shape[0];
    let mut net = Network::new(&graph, &DeviceKind::Flex.device()?)?;
    let x = net.batch(input.data, n, &sample)?;
    let values = host_values(net.forward(x, Mode::Eval));
    let out = Array::try_new(vec![n, values.len() / n.max(1)], values)
        .context("the output does not split into the batch")?;
    let max = out.data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let min = out.data.iter().copied().fold(f32::INFINITY, f32::min);
    println!("output {:?}: min {min:.6}, max {max:.6}", out.shape);
    if let Some(path) = &args.output {
        let name = graph.nodes[graph.outputs[0].node].outputs[0].clone();
        outputs.write(path, &shears_onnx::tensor_bytes(&out, &name))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
