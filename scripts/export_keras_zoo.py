"""Add Keras models to the ONNX "test zoo": tiny channels-last CNNs built from Keras layers,
converted to ONNX with tf2onnx, with a reference input and ONNX Runtime's output for each, as
scripts/export_zoo.py does for the PyTorch models.

Run:   python3 scripts/export_keras_zoo.py [OUT_DIR] [--details]   (default: crates/onnx/tests/zoo)
       after scripts/export_zoo.py, which rewrites the manifest and removes every folder the
       manifest lists (these included).

Needs: tensorflow-cpu 2.21 (Keras 3.15 comes with it) and tf2onnx 1.17
       (`python3 -m pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0`; neither changes the
       numpy, onnx or protobuf that are installed), onnx and onnxruntime.

For every model NAME it writes OUT_DIR/NAME/:
  model.onnx    tf2onnx.convert.from_keras with `inputs_as_nchw=["input"]` (tf2onnx's option
                for NCHW runtimes: the input is (N,3,32,32) and the graph needs no transpose of
                it; shears, like PyTorch, takes channels-first inputs), output `logits`
                (N,10), dynamic batch axis N; conv and dense biases and
                BatchNormalization parameters random, BN moving statistics measured on random
                data and perturbed (so BN is not the identity)
  input_0.pb    onnx TensorProto: a seeded random input of batch 2, NCHW
  output_0.pb   onnx TensorProto: ONNX Runtime's (CPUExecutionProvider) output on input_0.pb,
                checked against Keras's model(x, training=False) (max |diff| <= 1e-4, else the
                script fails)
and appends an entry per model to OUT_DIR/manifest.json (replacing this script's entries from
an earlier run, keeping every other entry). `--details` prints every node of every graph with
its attributes and small constant inputs. The files are deterministic for given tensorflow,
tf2onnx and onnxruntime versions: tf2onnx's names for nodes and constants vary from run to run
(its optimizer walks sets), so the script renames them by position (see `canonical_names`).
"""

import argparse
import collections
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import keras
import tf2onnx
from keras import layers
from onnx import numpy_helper

from onnx_summary import attr_text, constants, input_text, op_counts

SEED = 0
CLASSES = 10
SHAPE = (32, 32, 3)
TOLERANCE = 1e-4
GENERATOR = "scripts/export_keras_zoo.py"


# --------------------------------------------------------------------------------------------
# The models. Each builder returns (keras.Model, description).
# --------------------------------------------------------------------------------------------

def conv_bn(x, filters, kernel, strides=1, act="relu", use_bias=False, name=None):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=use_bias, name=name)(x)
    x = layers.BatchNormalization()(x)
    if act == "relu":
        x = layers.ReLU()(x)
    elif act == "relu6":
        x = layers.ReLU(6.0)(x)
    return x


def build_plain():
    inp = keras.Input(SHAPE, name="input")
    x = conv_bn(inp, 8, 3, use_bias=True)     # Keras's default conv has a bias, also before BN
    x = conv_bn(x, 16, 3, use_bias=True)
    x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inp, out, name="keras_plain"), "(Conv2D+BN+ReLU) x2, MaxPooling2D, GAP, Dense"


def build_resnet():
    inp = keras.Input(SHAPE, name="input")
    x = conv_bn(inp, 8, 3)
    # A basic block with a stride-2 projection shortcut (1x1 conv + BN), then an identity block.
    y = conv_bn(x, 16, 3, strides=2)
    y = conv_bn(y, 16, 3, act=None)
    s = conv_bn(x, 16, 1, strides=2, act=None)
    x = layers.ReLU()(layers.Add()([y, s]))
    y = conv_bn(x, 16, 3)
    y = conv_bn(y, 16, 3, act=None)
    x = layers.ReLU()(layers.Add()([y, x]))
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inp, out, name="keras_resnet"), "basic block with stride-2 conv1x1+BN shortcut, identity block, Add"


def inverted_residual(x, expand, out_channels, strides):
    in_channels = x.shape[-1]
    y = conv_bn(x, in_channels * expand, 1, act="relu6")
    y = layers.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(y)
    y = layers.BatchNormalization()(y)
    y = layers.ReLU(6.0)(y)
    y = conv_bn(y, out_channels, 1, act=None)
    if strides == 1 and in_channels == out_channels:
        y = layers.Add()([x, y])
    return y


def build_mobilenet():
    inp = keras.Input(SHAPE, name="input")
    x = conv_bn(inp, 8, 3, strides=2, act="relu6")
    # MobileNetV2's first block: depthwise + pointwise, no expansion.
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = conv_bn(x, 8, 1, act=None)
    x = inverted_residual(x, 4, 16, strides=2)
    x = inverted_residual(x, 4, 16, strides=1)    # residual Add
    x = conv_bn(x, 32, 1, act="relu6")
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inp, out, name="keras_mobilenet"), \
        "DepthwiseConv2D+pointwise, ReLU(6.), inverted residuals (expand 4, one stride 2, one with Add)"


def build_concat():
    inp = keras.Input(SHAPE, name="input")
    x = conv_bn(inp, 8, 3, strides=2)
    a = layers.Conv2D(8, 1, activation="relu")(x)                  # Conv with bias, fused ReLU
    b = conv_bn(x, 12, 3)
    x = layers.Concatenate(axis=-1)([a, b])                        # 20 channels
    x = layers.MaxPooling2D(2)(x)
    x = layers.MaxPooling2D(2)(x)                                  # 4x4x20
    x = layers.Flatten()(x)                                        # NHWC order: 320 features
    out = layers.Dense(CLASSES, name="logits")(x)
    return keras.Model(inp, out, name="keras_concat"), \
        "two branches (conv1x1, conv3x3+BN) Concatenate(axis=-1), max pools, Flatten (NHWC order), Dense"


BUILDERS = {
    "keras_plain": build_plain,
    "keras_resnet": build_resnet,
    "keras_mobilenet": build_mobilenet,
    "keras_concat": build_concat,
}

Export = collections.namedtuple("Export", "name builder opset", defaults=(13,))
EXPORTS = [Export(name, name) for name in BUILDERS] + [
    Export("keras_mobilenet_opset17", "keras_mobilenet", opset=17),
]


# --------------------------------------------------------------------------------------------
# Weights: Keras's init, random biases, random BN affine parameters, and BN moving statistics
# measured on random data (each BN in layer order, with the earlier ones already set), then
# perturbed.
# --------------------------------------------------------------------------------------------

def randomize(model, seed):
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D, layers.Dense)) and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, ((rng.random(bias.shape) - 0.5) * 0.2).astype(np.float32)])
    calibration = rng.standard_normal((16, *SHAPE)).astype(np.float32)
    for layer in model.layers:
        if not isinstance(layer, layers.BatchNormalization):
            continue
        before = keras.Model(model.inputs, layer.input)([calibration], training=False).numpy()
        axes = tuple(range(before.ndim - 1))
        mean, var = before.mean(axis=axes), before.var(axis=axes)
        n = mean.shape[0]
        gamma = 0.5 + rng.random(n)
        beta = 0.2 * rng.standard_normal(n)
        mean = mean + 0.1 * np.sqrt(var) * rng.standard_normal(n)
        var = var * (0.8 + 0.45 * rng.random(n))
        layer.set_weights([w.astype(np.float32) for w in (gamma, beta, mean, var)])


# --------------------------------------------------------------------------------------------
# Export and check.
# --------------------------------------------------------------------------------------------

def export(model, opset):
    spec = (tf.TensorSpec((None, *SHAPE), tf.float32, name="input"),)
    onnx_model, _ = tf2onnx.convert.from_keras(
        model, input_signature=spec, opset=opset, inputs_as_nchw=["input"])
    canonical_names(onnx_model)
    names_in = [i.name for i in onnx_model.graph.input]
    names_out = [o.name for o in onnx_model.graph.output]
    if names_in != ["input"] or names_out != ["logits"]:
        raise SystemExit(f"{model.name}: tf2onnx named the graph's ends {names_in} -> {names_out}")
    return onnx_model


def canonical_names(model):
    """Name every node OP_INDEX, its outputs after it, and every initializer after its first
    consumer (NODE_inSLOT), initializers in order of first use: the same graph then gives the
    same file, whatever tf2onnx's counters said. The graph's input and output keep their names."""
    graph = model.graph
    ends = {i.name for i in graph.input} | {o.name for o in graph.output}
    inits = {i.name: i for i in graph.initializer}
    rename, order = {}, []
    for index, node in enumerate(graph.node):
        node.name = f"{node.op_type}_{index}"
        for slot, name in enumerate(node.input):
            if name in inits and name not in rename:
                rename[name] = f"{node.name}_in{slot}"
                order.append(inits[name])
            if name in rename:
                node.input[slot] = rename[name]
        for slot, name in enumerate(node.output):
            if name not in ends:
                rename[name] = node.name if slot == 0 else f"{node.name}_out{slot}"
                node.output[slot] = rename[name]
    if len(order) != len(inits):
        raise SystemExit(f"{graph.name}: an initializer is unused")
    for init in order:
        init.name = rename[init.name]
    graph.ClearField("initializer")
    graph.initializer.extend(order)
    graph.ClearField("value_info")
    for end in [*graph.input, *graph.output]:  # tf2onnx's unk__NNN, as export_zoo.py's N
        end.type.tensor_type.shape.dim[0].dim_param = "N"


def details(model):
    """Every node in order, with attributes and the values of small constant inputs."""
    consts = constants(model)
    lines = []
    for n in model.graph.node:
        ins = [input_text(i, consts) for i in n.input]
        lines.append(f"    {n.op_type:<18} in({', '.join(ins)}) {attr_text(n)}")
    return lines


def update_manifest(out_dir, entries):
    """Replace this script's entries in the manifest, keep the others (export_zoo.py's)."""
    path = os.path.join(out_dir, "manifest.json")
    if os.path.isfile(path):
        with open(path) as f:
            manifest = json.load(f)
    else:
        manifest = {"input_name": "input", "output_name": "logits", "tolerance": TOLERANCE, "models": []}
    ours = {e.name for e in EXPORTS}
    manifest["models"] = [m for m in manifest.get("models", [])
                          if m.get("generator") != GENERATOR and m["name"] not in ours] + entries
    with open(path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="crates/onnx/tests/zoo")
    parser.add_argument("--details", action="store_true", help="print every node with its attributes")
    args = parser.parse_args()

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    os.makedirs(args.out_dir, exist_ok=True)
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__, "tf2onnx": tf2onnx.__version__,
                "onnx": onnx.__version__, "onnxruntime": ort.__version__}
    entries, rows = [], []
    for name, key, opset in EXPORTS:
        keras.utils.set_random_seed(SEED)
        keras.backend.clear_session()
        model, description = BUILDERS[key]()
        randomize(model, SEED)
        params = int(model.count_params())

        onnx_model = export(model, opset)
        final_opset = next(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx"))
        onnx.checker.check_model(onnx_model, full_check=True)

        folder = os.path.join(args.out_dir, name)
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
        model_path = os.path.join(folder, "model.onnx")
        onnx.save(onnx_model, model_path)

        x = np.random.default_rng(SEED + 2).standard_normal((2, *SHAPE)).astype(np.float32)
        expected = model(x, training=False).numpy()
        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        got = session.run(["logits"], {"input": x_nchw})[0]
        diff = float(np.abs(got - expected).max())
        if got.shape != expected.shape or not diff <= TOLERANCE:
            raise SystemExit(f"FAIL {name}: ONNX Runtime differs from Keras, max |diff| {diff:.3g} "
                             f"(shapes {got.shape} vs {expected.shape})")
        if float(np.std(got)) < 0.05:
            raise SystemExit(f"FAIL {name}: logits too flat to test anything (std {np.std(got):.3g})")
        one = session.run(["logits"], {"input": x_nchw[:1]})[0]
        if not np.abs(one - got[:1]).max() <= TOLERANCE:
            raise SystemExit(f"FAIL {name}: batch 1 differs from row 0 of batch 2")
        for fname, tname, arr in (("input_0.pb", "input", x_nchw), ("output_0.pb", "logits", got)):
            with open(os.path.join(folder, fname), "wb") as f:
                f.write(numpy_helper.from_array(np.ascontiguousarray(arr), name=tname).SerializeToString())

        ops = op_counts(onnx_model)
        bn_nodes = ops.get("BatchNormalization", 0)
        size = os.path.getsize(model_path)
        entries.append({
            "name": name, "architecture": key, "description": description, "generator": GENERATOR,
            **versions, "layout": "NCHW (inputs_as_nchw)", "opset": final_opset, "exported_opset": opset,
            "converted_with_version_converter": False, "bn_folded": bn_nodes == 0,
            "batch_norm_nodes": bn_nodes, "dynamic_batch": True,
            "input_shape": [2, SHAPE[2], SHAPE[0], SHAPE[1]], "output_shape": list(got.shape),
            "parameters": params, "model_bytes": size, "max_abs_diff_vs_keras": diff, "ops": ops,
        })
        rows.append((name, final_opset, size, params, diff, ops, onnx_model))

    update_manifest(args.out_dir, entries)
    print(", ".join(f"{k} {v}" for k, v in versions.items()))
    print(f"{'name':<26}{'opset':>5}{'bytes':>7}{'params':>7} {'diff':>8}  ops")
    for name, opset, size, params, diff, ops, onnx_model in rows:
        op_text = " ".join(f"{k}:{v}" for k, v in ops.items())
        print(f"{name:<26}{opset:>5}{size:>7}{params:>7} {diff:8.1e}  {op_text}")
        if args.details:
            print("\n".join(details(onnx_model)))
    print(f"{len(rows)} models in {args.out_dir}")


if __name__ == "__main__":
    sys.exit(main())
