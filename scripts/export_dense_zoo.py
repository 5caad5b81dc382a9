"""Build the dense-prediction test zoo: small segmentation and detection networks of the kinds
users bring to a pruning tool (FPN, LR-ASPP and DeepLabV3 heads from torchvision, a U-Net, a
ConvNeXt block, a YOLO-style detector with three output heads, a model with a free image size),
each exported twice: with PyTorch's default exporter (torch.export, opset 18, what
`torch.onnx.export(model, (x,), path)` writes today) and with the TorchScript one
(`dynamo=False`, opset 17).

Run:   python3 scripts/export_dense_zoo.py [OUT_DIR]     (default: crates/onnx/tests/dense_zoo)

Needs: torch and torchvision (scripts/install-torch.sh), onnxscript, onnx, onnxruntime.

For every model NAME it writes OUT_DIR/NAME/:
  model.onnx       the export; input `input` (N,3,H,W) with a symbolic batch axis N (and
                   symbolic H, W for the `*_free_size` models); outputs `out0`, `out1`, ...
  model.onnx.data  the weights, where the exporter stored them outside the model
  input_0.pb       a seeded random input of batch 2
  output_K.pb      ONNX Runtime's output K on input_0.pb, checked against PyTorch's
                   (max |diff| <= 1e-4, else the script fails)
and OUT_DIR/manifest.json: name, exporter, opset, input shape, output shapes, parameters,
op counts.

Also OUT_DIR/resnet18_external/model.onnx: torchvision's full-size ResNet-18 as the default
exporter writes it, weights in `model.onnx.data`. Only the model file is kept (47 MB of
weights stay out of the repository): the test writes seeded weights into the data file the
model names and takes ONNX Runtime's outputs on that pair as the reference.
"""

import argparse
import collections
import json
import os
import shutil
import tempfile
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from onnx import numpy_helper
from torch import nn
from torch.nn import functional as F
from torchvision.models.segmentation.deeplabv3 import ASPP
from torchvision.models.segmentation.lraspp import LRASPPHead

SEED = 0
TOLERANCE = 1e-4
SHAPE = (3, 32, 32)


def conv_bn(cin, cout, stride=1, k=3):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class Backbone(nn.Module):
    """Three stages at strides 2, 4 and 8."""

    def __init__(self, widths=(16, 24, 32)):
        super().__init__()
        a, b, c = widths
        self.s1 = nn.Sequential(conv_bn(3, a, 2), conv_bn(a, a))
        self.s2 = nn.Sequential(conv_bn(a, b, 2), conv_bn(b, b))
        self.s3 = nn.Sequential(conv_bn(b, c, 2), conv_bn(c, c))

    def forward(self, x):
        c1 = self.s1(x)
        c2 = self.s2(c1)
        return c1, c2, self.s3(c2)


class Fpn(nn.Module):
    """Feature pyramid: lateral 1x1 convs, nearest 2x upsampling and adds, a 3x3 head."""

    def __init__(self, classes=5):
        super().__init__()
        self.backbone = Backbone()
        self.lateral = nn.ModuleList([nn.Conv2d(c, 16, 1) for c in (16, 24, 32)])
        self.head = nn.Sequential(conv_bn(16, 16), nn.Conv2d(16, classes, 1))

    def forward(self, x):
        c1, c2, c3 = self.backbone(x)
        p3 = self.lateral[2](c3)
        p2 = self.lateral[1](c2) + F.interpolate(p3, scale_factor=2.0, mode="nearest")
        p1 = self.lateral[0](c1) + F.interpolate(p2, scale_factor=2.0, mode="nearest")
        return self.head(p1)


class Lraspp(nn.Module):
    """torchvision's LR-ASPP head on a small backbone, upsampled bilinearly to the input."""

    def __init__(self, classes=5):
        super().__init__()
        self.backbone = Backbone()
        self.head = LRASPPHead(16, 32, classes, 24)

    def forward(self, x):
        c1, _, c3 = self.backbone(x)
        out = self.head({"low": c1, "high": c3})
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


class DeepLab(nn.Module):
    """DeepLabV3's head (torchvision's `DeepLabHead` layout, 32 channels wide instead of 256):
    torchvision's ASPP with dilated convs and image pooling resized by size."""

    def __init__(self, classes=5):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Sequential(ASPP(32, (1, 2, 3), 32), conv_bn(32, 32), nn.Conv2d(32, classes, 1))

    def forward(self, x):
        _, _, c3 = self.backbone(x)
        out = self.head(c3)
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


class Yolo(nn.Module):
    """A YOLO-style detector: a top-down neck (nearest upsampling, concat) and three heads of
    3 anchors x (5 + 4 classes) channels, one per scale: three graph outputs."""

    def __init__(self, anchors=3, classes=4):
        super().__init__()
        self.backbone = Backbone()
        out = anchors * (5 + classes)
        self.reduce3 = conv_bn(32, 16, k=1)
        self.merge2 = conv_bn(24 + 16, 24)
        self.reduce2 = conv_bn(24, 16, k=1)
        self.merge1 = conv_bn(16 + 16, 16)
        self.heads = nn.ModuleList([nn.Conv2d(c, out, 1) for c in (16, 24, 32)])

    def forward(self, x):
        c1, c2, c3 = self.backbone(x)
        r3 = self.reduce3(c3)
        n2 = self.merge2(torch.cat([c2, F.interpolate(r3, scale_factor=2.0)], 1))
        r2 = self.reduce2(n2)
        n1 = self.merge1(torch.cat([c1, F.interpolate(r2, scale_factor=2.0)], 1))
        return self.heads[0](n1), self.heads[1](n2), self.heads[2](c3)


class UNet(nn.Module):
    """A two-level U-Net: max-pool encoder, transposed-conv decoder (one plain 2x2 stride 2,
    one grouped 3x3 with output padding), concat skips."""

    def __init__(self, classes=3):
        super().__init__()
        self.enc1 = nn.Sequential(conv_bn(3, 16), conv_bn(16, 16))
        self.enc2 = nn.Sequential(conv_bn(16, 32), conv_bn(32, 32))
        self.bottom = conv_bn(32, 64)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.dec2 = conv_bn(64, 32)
        self.up1 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1, groups=2)
        self.dec1 = conv_bn(32, 16)
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


class GeluBlock(nn.Module):
    """ConvNeXt's inverted bottleneck in channels-first form: a 7x7 depthwise conv, 1x1 convs
    to 4x and back with GELU between (exact, then the tanh approximation), a residual add."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = conv_bn(3, 16, 2)
        self.blocks = nn.ModuleList()
        for approximate in ("none", "tanh"):
            self.blocks.append(nn.Sequential(
                nn.Conv2d(16, 16, 7, padding=3, groups=16), nn.BatchNorm2d(16),
                nn.Conv2d(16, 64, 1), nn.GELU(approximate=approximate), nn.Conv2d(64, 16, 1),
            ))
        self.head = nn.Conv2d(16, classes, 1)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


class ConvNeXt(nn.Module):
    """A small ConvNeXt from torchvision's own blocks: a patchify stem with LayerNorm2d, two
    CNBlocks (7x7 depthwise conv, channels-last LayerNorm, Linear 4x, GELU, Linear back,
    layer scale, residual), a LayerNorm2d + strided conv downsampling, one more CNBlock, and
    torchvision's classifier head (average pool, LayerNorm2d, flatten, Linear)."""

    def __init__(self, classes=5):
        super().__init__()
        from torchvision.models.convnext import CNBlock, LayerNorm2d
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 4, stride=4), LayerNorm2d(16),
            CNBlock(16, 0.5, 0.0), CNBlock(16, 0.5, 0.0),
            LayerNorm2d(16), nn.Conv2d(16, 32, 2, stride=2),
            CNBlock(32, 0.5, 0.0),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), LayerNorm2d(32), nn.Flatten(1),
                                  nn.Linear(32, classes))

    def forward(self, x):
        return self.head(self.features(x))


class ChannelsFirstLayerNorm(nn.Module):
    """The layer norm over channels of the ConvNeXt authors' code (data_format
    "channels_first"), written out: mean, centred square, mean, square root, divide, scale."""

    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(0.5 + torch.rand(channels))
        self.bias = nn.Parameter(0.2 * torch.randn(channels))
        self.eps = eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class WrittenOutLayerNorm(nn.Module):
    """A ConvNeXt-style network on the written-out channels-first layer norm."""

    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), ChannelsFirstLayerNorm(16))
        self.block = nn.Sequential(
            nn.Conv2d(16, 16, 7, padding=3, groups=16), ChannelsFirstLayerNorm(16),
            nn.Conv2d(16, 64, 1), nn.GELU(), nn.Conv2d(64, 16, 1),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(16, classes))

    def forward(self, x):
        x = self.stem(x)
        return self.head(x + self.block(x))


BUILDERS = {
    "fpn": (Fpn, "FPN: lateral 1x1 convs, nearest upsampling, adds"),
    "lraspp": (Lraspp, "torchvision LRASPPHead, bilinear resize to the input size"),
    "deeplab": (DeepLab, "DeepLabV3 head: torchvision ASPP (image pooling resized by size)"),
    "unet": (UNet, "U-Net: transposed convs (plain, grouped with output padding), concat skips"),
    "convnext": (ConvNeXt, "torchvision CNBlocks and LayerNorm2d (channels-last LayerNorm, Linear)"),
    "layernorm_written": (WrittenOutLayerNorm, "the ConvNeXt authors' channels-first LayerNorm, written out"),
    "gelu": (GeluBlock, "ConvNeXt-style inverted bottlenecks, exact and tanh GELU, residuals"),
    "yolo": (Yolo, "YOLO-style neck and three detection heads (three outputs)"),
}

# (name, builder, exporter, free image size)
EXPORTS = [
    (f"{key}_{exporter}", key, exporter, False)
    for key in BUILDERS
    for exporter in ("dynamo", "torchscript")
] + [("fpn_free_size", "fpn", "torchscript", True), ("fpn_free_size_dynamo", "fpn", "dynamo", True)]


def randomize(model, seed):
    """Non-trivial BN statistics and affine parameters, biases away from 0."""
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.bias is not None:
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) - 0.5) * 0.2)
            if isinstance(m, nn.LayerNorm):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    model.eval()


def export(model, path, exporter, outputs, free_size):
    x = torch.zeros((1, *SHAPE))
    axes = {0: "N", 2: "H", 3: "W"} if free_size else {0: "N"}
    dynamic = {"input": axes, **{o: {0: "N"} for o in outputs}}
    if exporter == "dynamo":
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=outputs,
                          dynamic_axes=dynamic, external_data=True)
    else:
        torch.onnx.export(model, (x,), path, input_names=["input"], output_names=outputs,
                          dynamic_axes=dynamic, opset_version=17, dynamo=False)


def write_tensor(path, name, array):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(np.ascontiguousarray(array), name=name).SerializeToString())


def clear(out_dir):
    """Remove this script's earlier output, never a folder it did not write."""
    manifest = os.path.join(out_dir, "manifest.json")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not os.path.isfile(manifest):
            raise SystemExit(f"{out_dir} is not empty and has no manifest.json: not touching it")
        shutil.rmtree(out_dir)
    os.makedirs(out_dir, exist_ok=True)


def export_resnet18(out_dir):
    """torchvision's ResNet-18 at 224x224 with external data; the data file is removed."""
    folder = os.path.join(out_dir, "resnet18_external")
    os.makedirs(folder)
    path = os.path.join(folder, "model.onnx")
    model = torchvision.models.resnet18(weights=None).eval()
    torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), path, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                      external_data=True)
    data_bytes = os.path.getsize(path + ".data")
    os.remove(path + ".data")
    print(f"resnet18_external       model file only, {data_bytes:,} bytes of weights left out")
    return {"data_bytes": data_bytes, "parameters": sum(p.numel() for p in model.parameters())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="crates/onnx/tests/dense_zoo")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    clear(args.out_dir)
    manifest = {
        "generator": "scripts/export_dense_zoo.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "onnx": onnx.__version__, "onnxruntime": ort.__version__,
        "input_name": "input", "tolerance": TOLERANCE, "models": [],
    }
    for name, key, exporter, free_size in EXPORTS:
        torch.manual_seed(SEED)
        build, description = BUILDERS[key]
        model = build()
        randomize(model, SEED)
        x = torch.randn((2, *SHAPE), generator=torch.Generator().manual_seed(SEED + 2))
        with torch.no_grad():
            expected = model(x)
        expected = [t.numpy() for t in (expected if isinstance(expected, tuple) else (expected,))]
        outputs = [f"out{k}" for k in range(len(expected))]
        folder = os.path.join(args.out_dir, name)
        os.makedirs(folder)
        path = os.path.join(folder, "model.onnx")
        export(model, path, exporter, outputs, free_size)
        onnx_model = onnx.load(path)
        onnx.checker.check_model(path, full_check=True)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        got = session.run(outputs, {"input": x.numpy()})
        for k, (g, e) in enumerate(zip(got, expected)):
            diff = float(np.abs(g - e).max())
            if g.shape != e.shape or not diff <= TOLERANCE:
                raise SystemExit(f"FAIL {name}: output {k} differs from PyTorch by {diff:.3g}")
        write_tensor(os.path.join(folder, "input_0.pb"), "input", x.numpy())
        for k, g in enumerate(got):
            write_tensor(os.path.join(folder, f"output_{k}.pb"), outputs[k], g)
        ops = collections.Counter(n.op_type for n in onnx_model.graph.node)
        opset = next(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx"))
        manifest["models"].append({
            "name": name, "architecture": key, "description": description,
            "exporter": exporter, "opset": opset, "free_size": free_size,
            "external_data": os.path.exists(path + ".data"),
            "input_shape": list(x.shape), "output_shapes": [list(g.shape) for g in got],
            "parameters": sum(p.numel() for p in model.parameters()),
            "ops": dict(sorted(ops.items())),
        })
        print(f"{name:<24} opset {opset}  outputs {[list(g.shape) for g in got]}  {dict(sorted(ops.items()))}")
    manifest["resnet18_external"] = export_resnet18(args.out_dir)
    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
