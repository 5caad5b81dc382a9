"""How fast ONNX Runtime runs ResNet-20-shaped models (1x28x28, BN folded, random weights) of
chosen widths and depths, as a share of the full model's time at batch 128, timed in
alternating pairs: is 0.8 of the MAC promise reachable there with channel counts ONNX
Runtime's blocked convolutions like (multiples of 16) and whole blocks removed?

Run: python3 scripts/ort_width_bound.py      (needs `pip install onnx onnxruntime numpy`)
"""
import statistics
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# (stem, [(stream channels, [inner channels of each block; 0 removes the block])] per stage)
MODELS = {
    "full": (16, [(16, [16, 16, 16]), (32, [32, 32, 32]), (64, [64, 64, 64])]),
    "half, multiples of 8": (8, [(8, [8, 8, 8]), (16, [16, 16, 16]), (32, [32, 32, 32])]),
    "16s, one stage-1 block": (16, [(16, [16, 0, 0]), (16, [16, 16, 16]), (32, [32, 32, 32])]),
    "16s, no stage-1 block": (16, [(16, [0, 0, 0]), (16, [16, 16, 16]), (32, [32, 32, 32])]),
}


def build(stem, stages):
    rng = np.random.default_rng(0)
    nodes, inits = [], []
    macs = [0]

    def conv(x, cin, cout, k, s, size, name, relu=True):
        inits.append(numpy_helper.from_array(
            (rng.standard_normal((cout, cin, k, k)) * 0.1).astype(np.float32), name + "_w"))
        inits.append(numpy_helper.from_array(np.zeros(cout, np.float32), name + "_b"))
        p = k // 2
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name],
                                      strides=[s, s], pads=[p, p, p, p]))
        out = (size + 2 * p - k) // s + 1
        macs[0] += cout * cin * k * k * out * out
        if not relu:
            return name, out
        nodes.append(helper.make_node("Relu", [name], [name + "_r"]))
        return name + "_r", out

    x, size = conv("x", 1, stem, 3, 1, 28, "stem")
    cin = stem
    for si, (stream, inners) in enumerate(stages):
        for bi, inner in enumerate(inners):
            s, n = (2 if si > 0 and bi == 0 else 1), f"s{si}b{bi}"
            shortcut, out = (x, size)
            if s == 2 or cin != stream:
                shortcut, out = conv(x, cin, stream, 1, s, size, n + "sc", relu=False)
            if inner == 0:
                x, size, cin = shortcut, out, stream
                continue
            h, out = conv(x, cin, inner, 3, s, size, n + "c1")
            h, out = conv(h, inner, stream, 3, 1, out, n + "c2", relu=False)
            nodes.append(helper.make_node("Add", [h, shortcut], [n + "sum"]))
            nodes.append(helper.make_node("Relu", [n + "sum"], [n + "out"]))
            x, size, cin = n + "out", out, stream
    inits.append(numpy_helper.from_array(
        (rng.standard_normal((10, cin)) * 0.1).astype(np.float32), "fc_w"))
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("Gemm", ["flat", "fc_w"], ["y"], transB=1)]
    graph = helper.make_graph(
        nodes, "resnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), macs[0]


def session(model):
    with tempfile.NamedTemporaryFile(suffix=".onnx") as f:
        onnx.save(model, f.name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 2
        return ort.InferenceSession(f.name, options, providers=["CPUExecutionProvider"])


def main():
    x = np.random.default_rng(1).standard_normal((128, 1, 28, 28)).astype(np.float32)
    built = {name: build(*spec) for name, spec in MODELS.items()}
    full, full_macs = built.pop("full")
    base = session(full)
    print("model | MACs | promise | ORT speed-up (median of 25 alternating pairs) | share of promise")
    for name, (model, macs) in built.items():
        pruned = session(model)
        for _ in range(3):
            base.run(None, {"x": x})
            pruned.run(None, {"x": x})
        shares = []
        for _ in range(25):
            t = time.perf_counter()
            base.run(None, {"x": x})
            a = time.perf_counter() - t
            t = time.perf_counter()
            pruned.run(None, {"x": x})
            shares.append((time.perf_counter() - t) / a)
        speedup, promise = 1 / statistics.median(shares), full_macs / macs
        print(f"{name} | {macs / 1e6:.2f}M | {promise:.2f}x | {speedup:.2f}x | {speedup / promise:.2f}")


if __name__ == "__main__":
    main()
