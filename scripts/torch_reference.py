"""Writes crates/runtime/tests/data/torch_ops.json: PyTorch forward results for every IR op.

Each case holds the op (as the Rust test builds it), its inputs, weights and PyTorch's output.
Run from the repository root:  python3 scripts/torch_reference.py   (needs `pip install torch`)
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(0)
cases = []


def t(*shape):
    return torch.randn(*shape)


def flat(x):
    return [round(float(v), 7) for v in x.reshape(-1).tolist()]


def case(name, op, inputs, output, weights=None, extra=None):
    entry = {
        "name": name,
        "op": op,
        "inputs": [{"shape": list(x.shape), "data": flat(x)} for x in inputs],
        "output": {"shape": list(output.shape), "data": flat(output)},
        "weights": {k: {"shape": list(v.shape), "data": flat(v)} for k, v in (weights or {}).items()},
    }
    entry.update(extra or {})
    cases.append(entry)


x = t(2, 4, 7, 6)
# Convolutions: plain with bias, strided + asymmetric padding, dilated, grouped, depthwise.
w, b = t(5, 4, 3, 3), t(5)
case("conv_bias", {"type": "conv", "stride": [1, 1], "pads": [1, 1, 1, 1], "dilation": [1, 1], "groups": 1},
     [x], F.conv2d(x, w, b, padding=1), {"weight": w, "bias": b})
w = t(3, 4, 3, 2)
y = F.conv2d(F.pad(x, (0, 1, 2, 1)), w, stride=(2, 1))  # F.pad order: left, right, top, bottom
case("conv_stride_asym_pad", {"type": "conv", "stride": [2, 1], "pads": [2, 0, 1, 1], "dilation": [1, 1], "groups": 1},
     [x], y, {"weight": w})
w = t(6, 4, 3, 3)
case("conv_dilated", {"type": "conv", "stride": [1, 1], "pads": [2, 2, 2, 2], "dilation": [2, 2], "groups": 1},
     [x], F.conv2d(x, w, padding=2, dilation=2), {"weight": w})
w = t(6, 2, 3, 3)
case("conv_grouped", {"type": "conv", "stride": [1, 1], "pads": [1, 1, 1, 1], "dilation": [1, 1], "groups": 2},
     [x], F.conv2d(x, w, padding=1, groups=2), {"weight": w})
w, b = t(4, 1, 3, 3), t(4)
case("conv_depthwise", {"type": "conv", "stride": [2, 2], "pads": [1, 1, 1, 1], "dilation": [1, 1], "groups": 4},
     [x], F.conv2d(x, w, b, stride=2, padding=1, groups=4), {"weight": w, "bias": b})

# Batch norm in eval mode, and in train mode with the updated running statistics.
gamma, beta, mean, var = t(4), t(4), t(4), torch.rand(4) + 0.5
case("bn_eval", {"type": "bn", "eps": 1e-5, "momentum": 0.1}, [x],
     F.batch_norm(x, mean, var, gamma, beta, training=False, eps=1e-5),
     {"gamma": gamma, "beta": beta, "mean": mean, "var": var})
rm, rv = mean.clone(), var.clone()
y = F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.1, eps=1e-5)
case("bn_train", {"type": "bn", "eps": 1e-5, "momentum": 0.1, "train": True}, [x], y,
     {"gamma": gamma, "beta": beta, "mean": mean, "var": var},
     {"running_mean": flat(rm), "running_var": flat(rv)})

f = t(3, 10)
w, b = t(4, 10), t(4)
case("linear", {"type": "linear"}, [f], F.linear(f, w, b), {"weight": w, "bias": b})

for name, op, fn in [
    ("relu", {"type": "relu"}, F.relu),
    ("relu6", {"type": "clip", "min": 0.0, "max": 6.0}, lambda v: F.relu6(v * 4)),
    ("leaky_relu", {"type": "leaky_relu", "alpha": 0.1}, lambda v: F.leaky_relu(v, 0.1)),
    ("sigmoid", {"type": "sigmoid"}, torch.sigmoid),
    ("hardsigmoid", {"type": "hard_sigmoid", "alpha": 1 / 6, "beta": 0.5}, lambda v: F.hardsigmoid(v * 4)),
    ("hardswish", {"type": "hard_swish"}, lambda v: F.hardswish(v * 4)),
    ("silu", {"type": "silu"}, F.silu),
    ("tanh", {"type": "tanh"}, torch.tanh),
    ("softmax", {"type": "softmax", "axis": 1}, lambda v: F.softmax(v, 1)),
    ("global_avg_pool", {"type": "gap"}, lambda v: F.adaptive_avg_pool2d(v, 1)),
    ("flatten", {"type": "flatten"}, lambda v: torch.flatten(v, 1)),
    ("max_pool", {"type": "max_pool", "kernel": [3, 3], "stride": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": False},
     lambda v: F.max_pool2d(v, 3, 2, 1)),
    ("max_pool_ceil", {"type": "max_pool", "kernel": [2, 2], "stride": [2, 2], "pads": [0, 0, 0, 0], "ceil_mode": True},
     lambda v: F.max_pool2d(v, 2, 2, ceil_mode=True)),
    # 7 rows, k2 s3 p1, ceil: PyTorch drops the last window (it would start in the padding).
    ("max_pool_ceil_drops_last_window", {"type": "max_pool", "kernel": [2, 2], "stride": [3, 3],
                                         "pads": [1, 1, 1, 1], "ceil_mode": True},
     lambda v: F.max_pool2d(v, 2, 3, 1, ceil_mode=True)),
    ("avg_pool_ceil", {"type": "avg_pool", "kernel": [3, 3], "stride": [2, 2], "pads": [1, 1, 1, 1],
                       "ceil_mode": True, "count_include_pad": False},
     lambda v: F.avg_pool2d(v, 3, 2, 1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool_exclude_pad", {"type": "avg_pool", "kernel": [3, 3], "stride": [2, 2], "pads": [1, 1, 1, 1],
                              "count_include_pad": False}, lambda v: F.avg_pool2d(v, 3, 2, 1, count_include_pad=False)),
    ("avg_pool_include_pad", {"type": "avg_pool", "kernel": [3, 3], "stride": [2, 2], "pads": [1, 1, 1, 1],
                              "count_include_pad": True}, lambda v: F.avg_pool2d(v, 3, 2, 1, count_include_pad=True)),
]:
    # Ops the test scales by 4 first take the scaled input, so every branch of the op is hit.
    scaled = name in ("relu6", "hardsigmoid", "hardswish")
    inp = x * 4 if scaled else x
    case(name, op, [inp], fn(x))

gate = torch.sigmoid(t(2, 4, 1, 1))
case("mul_channel_gate", {"type": "mul"}, [x, gate], x * gate)
x2 = t(2, 4, 7, 6)
case("add", {"type": "add"}, [x, x2], x + x2)
row = t(2, 6)
case("add_broadcast_lower_rank", {"type": "add"}, [x, row], x + row.reshape(2, 1, 1, 6))
x3 = t(2, 3, 7, 6)
case("concat", {"type": "concat", "axis": 1}, [x, x3], torch.cat([x, x3], 1))

with open("crates/runtime/tests/data/torch_ops.json", "w") as out:
    json.dump({"torch_version": torch.__version__, "cases": cases}, out)
print(f"wrote {len(cases)} cases")
