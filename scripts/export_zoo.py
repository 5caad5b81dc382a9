"""Build the ONNX "test zoo": tiny CNNs made of torchvision's real block classes, exported to
ONNX with PyTorch's TorchScript exporter, with a reference input and ONNX Runtime's output
for each, as in ONNX's own backend test data.

Run:   python3 scripts/export_zoo.py [OUT_DIR]        (default: crates/onnx/tests/zoo)

Needs: torch 2.9 (CPU is enough), torchvision 0.24 (the version that matches torch 2.9;
       `python3 -m pip install --no-deps torchvision==0.24.0`, plus `pillow`, which
       torchvision imports), onnx and onnxruntime.

For every model NAME it writes OUT_DIR/NAME/:
  model.onnx    torch.onnx.export(dynamo=False), input `input` (N,3,H,W), output `logits`
                (N,classes), dynamic batch axis N; the model in eval mode, seeded, with
                random (non-identity) BatchNorm statistics and affine parameters
  input_0.pb    onnx TensorProto: a seeded random input of batch 2
  output_0.pb   onnx TensorProto: ONNX Runtime's (CPUExecutionProvider) output on input_0.pb,
                checked against PyTorch's output (max |diff| <= 1e-4, else the script fails)
and OUT_DIR/manifest.json listing every model (name, opset, whether BN was folded into the
convolutions, BatchNormalization nodes left, input shape, parameter count, file size, op
counts). The default export is opset 17 with BN folded (eval mode + constant folding);
variants cover opsets 11, 13, 18, 20 and 21 (21 through onnx's version converter, since the
TorchScript exporter stops at 20), "BN kept" graphs (TrainingMode.PRESERVE on a model in
eval mode: BatchNormalization nodes with training_mode 0) and one static-batch export. Folding
removes every BN that follows a conv; DenseNet's pre-activation BNs (after a concat or a pool)
have no conv to fold into and stay as BatchNormalization in its folded export too.

`--details` also prints the attributes of the shape-handling nodes (Reshape, Transpose,
Split, Slice, Pad, ReduceMean, Constant, Shape, Gather, Unsqueeze, Concat, ...) per model.
The files are deterministic for a given torch/torchvision/onnxruntime; rerun after upgrading.
"""

import argparse
import collections
import io
import json
import os
import shutil
import sys
import warnings
from functools import partial

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torchvision
from onnx import numpy_helper
from torch import nn
from torchvision.models import densenet, efficientnet, mobilenetv2, mobilenetv3
from torchvision.models import regnet, resnet, shufflenetv2, squeezenet, vgg
from torchvision.models.alexnet import AlexNet
from torchvision.models.googlenet import BasicConv2d, Inception  # (models.googlenet is the function)

from onnx_summary import attr_text, constants, input_text, op_counts

SEED = 0
CLASSES = 10
TOLERANCE = 1e-4
UNUSUAL = {
    "Reshape", "Transpose", "Split", "Slice", "Pad", "ReduceMean", "Constant", "Shape", "Gather",
    "Unsqueeze", "Squeeze", "Concat", "Flatten", "ConstantOfShape", "Expand", "Cast", "Range",
    "AveragePool", "MaxPool", "HardSigmoid", "Gemm", "BatchNormalization", "Clip", "Dropout",
}


# --------------------------------------------------------------------------------------------
# The models. Each builder returns (module, input shape (C, H, W), description).
# --------------------------------------------------------------------------------------------

class ResNetBasic(nn.Module):
    """ResNet with torchvision's BasicBlock: stem, stage 1 (identity shortcuts), stage 2
    (stride 2, 1x1 conv + BN downsample), global average pooling, fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = resnet.conv3x3(3, 8)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(resnet.BasicBlock(8, 8), resnet.BasicBlock(8, 8))
        down = nn.Sequential(resnet.conv1x1(8, 16, stride=2), nn.BatchNorm2d(16))
        self.layer2 = nn.Sequential(resnet.BasicBlock(8, 16, stride=2, downsample=down), resnet.BasicBlock(16, 16))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, CLASSES)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ResNetBottleneck(nn.Module):
    """ResNet with torchvision's Bottleneck (1x1 reduce, 3x3, 1x1 expand x4): a block with a
    stride-1 projection, a block with a stride-2 projection and an identity block."""

    def __init__(self):
        super().__init__()
        self.conv1 = resnet.conv3x3(3, 8)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        e = resnet.Bottleneck.expansion
        down1 = nn.Sequential(resnet.conv1x1(8, 4 * e), nn.BatchNorm2d(4 * e))
        down2 = nn.Sequential(resnet.conv1x1(4 * e, 8 * e, stride=2), nn.BatchNorm2d(8 * e))
        self.layer1 = nn.Sequential(resnet.Bottleneck(8, 4, downsample=down1))
        self.layer2 = nn.Sequential(
            resnet.Bottleneck(4 * e, 8, stride=2, downsample=down2), resnet.Bottleneck(8 * e, 8)
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * e, CLASSES)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_resnet_basic():
    return ResNetBasic(), (3, 32, 32), "resnet.BasicBlock x4, conv1x1+BN downsample"


def build_resnet_bottleneck():
    return ResNetBottleneck(), (3, 32, 32), "resnet.Bottleneck x3, two with conv1x1+BN downsample"


def build_mobilenet_v2():
    # t (expansion), c (channels), n (repeats), s (stride); the first row has t=1 (no expand).
    # With width_mult 0.5: a 16-channel stem, then blocks of 8, 16 (x2) and 24 (x2) channels.
    setting = [[1, 16, 1, 1], [4, 32, 2, 2], [4, 48, 2, 2]]
    m = mobilenetv2.MobileNetV2(num_classes=CLASSES, width_mult=0.5, inverted_residual_setting=setting)
    # MobileNetV2 fixes the last conv at >= 1280 channels: shrink it (and the classifier).
    m.features[-1] = mobilenetv2.Conv2dNormActivation(24, 32, kernel_size=1, activation_layer=nn.ReLU6)
    m.last_channel = 32
    m.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(32, CLASSES))
    return m, (3, 32, 32), "MobileNetV2(width_mult=0.5, tiny setting), last conv 32"


def build_mobilenet_v3():
    cfg = partial(mobilenetv3.InvertedResidualConfig, width_mult=1.0)
    setting = [
        # in, kernel, expanded, out, SE, activation, stride, dilation
        cfg(8, 3, 8, 8, True, "RE", 2, 1),      # no expansion, SE, ReLU (as MobileNetV3-Small)
        cfg(8, 3, 24, 16, False, "RE", 2, 1),   # expansion, ReLU
        cfg(16, 5, 48, 16, True, "HS", 1, 1),   # residual, SE, Hardswish, 5x5 depthwise
        cfg(16, 3, 32, 16, True, "HS", 1, 1),   # SE, Hardswish, residual
    ]
    m = mobilenetv3.MobileNetV3(setting, last_channel=32, num_classes=CLASSES)
    return m, (3, 32, 32), "MobileNetV3(4 InvertedResidualConfig, SE with Hardsigmoid, Hardswish)"


def build_efficientnet():
    setting = [
        efficientnet.MBConvConfig(1, 3, 1, 8, 8, 1),    # depthwise + SE, no expansion
        efficientnet.MBConvConfig(4, 3, 2, 8, 16, 2),   # expand, stride 2, then a residual block
        efficientnet.MBConvConfig(3, 5, 1, 16, 16, 1),  # 5x5 depthwise, residual
    ]
    m = efficientnet.EfficientNet(setting, dropout=0.2, num_classes=CLASSES, last_channel=32)
    return m, (3, 32, 32), "EfficientNet(3 MBConvConfig, SiLU, SE), last conv 32"


def build_densenet():
    m = densenet.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2, num_classes=CLASSES)
    return m, (3, 32, 32), "DenseNet(growth 4, blocks (2,2), 8 init features, bn_size 2)"


class TinyGoogLeNet(nn.Module):
    """GoogLeNet's BasicConv2d stem and two Inception blocks (four-branch concat, including the
    ceil-mode max-pool branch), max pooling between, GAP, dropout, fc."""

    def __init__(self):
        super().__init__()
        self.conv1 = BasicConv2d(3, 16, kernel_size=3, stride=1, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(16, 8, 4, 8, 2, 4, 4)     # -> 24
        self.inception3b = Inception(24, 8, 8, 12, 2, 6, 6)    # -> 32
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(32, 12, 6, 12, 2, 4, 4)   # -> 32
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(32, CLASSES)

    def forward(self, x):
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        return self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))


def build_inception():
    return TinyGoogLeNet(), (3, 32, 32), "googlenet.BasicConv2d + 3 googlenet.Inception"


class TinySqueezeNet(nn.Module):
    """SqueezeNet 1.1's layout with torchvision's Fire modules; the classifier is SqueezeNet's
    (dropout, 1x1 conv to the classes, ReLU, GAP, flatten). No BatchNorm in SqueezeNet."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, stride=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            squeezenet.Fire(16, 4, 8, 8),
            squeezenet.Fire(16, 4, 8, 8),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            squeezenet.Fire(16, 8, 16, 16),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(p=0.5), nn.Conv2d(32, CLASSES, kernel_size=1), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        # SqueezeNet's init (kaiming uniform), also for the final conv, which SqueezeNet draws
        # from N(0, 0.01): without BN that would leave near-zero logits.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


def build_squeezenet():
    return TinySqueezeNet(), (3, 32, 32), "squeezenet.Fire x3, ceil-mode max pools, conv classifier"


def build_regnet():
    params = regnet.BlockParams(
        depths=[1, 2], widths=[16, 32], group_widths=[4, 8], bottleneck_multipliers=[1.0, 1.0],
        strides=[2, 2], se_ratio=0.25,
    )
    m = regnet.RegNet(params, num_classes=CLASSES, stem_width=8)
    return m, (3, 32, 32), "RegNet(ResBottleneckBlock, AnyStage, 4-group convs of width 4 and 8, SE)"


def build_vgg():
    features = vgg.make_layers([8, "M", 16, "M", 24, 24, "M"], batch_norm=True)
    m = vgg.VGG(features, num_classes=CLASSES, init_weights=True)
    # VGG pools to 7x7, which the TorchScript exporter cannot do from 4x4 (adaptive pooling
    # needs the output to divide the input): pool to 2x2 and shrink the classifier, which keeps
    # VGG's Linear-ReLU-Dropout x2 + Linear shape.
    m.avgpool = nn.AdaptiveAvgPool2d((2, 2))
    m.classifier = nn.Sequential(
        nn.Linear(24 * 2 * 2, 32), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(32, 32), nn.ReLU(True), nn.Dropout(0.5),
        nn.Linear(32, CLASSES),
    )
    return m, (3, 32, 32), "VGG(make_layers([8,M,16,M,24,24,M], batch_norm=True)), avgpool 2x2, tiny classifier"


def build_alexnet():
    m = AlexNet(num_classes=CLASSES)
    # AlexNet's layout (5 convs, 3 max pools, adaptive pool, dropout/linear classifier) with
    # tiny widths; the features end at 3x3, so the adaptive pool is a no-op as in AlexNet at 224.
    m.features = nn.Sequential(
        nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),                                        # 15
        nn.Conv2d(8, 16, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),                                        # 7
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),                                        # 3
    )
    for layer in m.features:
        if isinstance(layer, nn.Conv2d):  # no BN: keep the activations' scale through the depth
            nn.init.kaiming_uniform_(layer.weight)
    m.avgpool = nn.AdaptiveAvgPool2d((3, 3))
    m.classifier = nn.Sequential(
        nn.Dropout(p=0.5), nn.Linear(16 * 3 * 3, 24), nn.ReLU(inplace=True),
        nn.Dropout(p=0.5), nn.Linear(24, 24), nn.ReLU(inplace=True),
        nn.Linear(24, CLASSES),
    )
    return m, (3, 32, 32), "AlexNet with tiny features/classifier, avgpool 3x3 (no-op)"


def build_shufflenet_v2():
    m = shufflenetv2.ShuffleNetV2(stages_repeats=[2, 2, 1], stages_out_channels=[8, 16, 24, 32, 64], num_classes=CLASSES)
    return m, (3, 32, 32), "ShuffleNetV2(repeats [2,2,1], channels [8,16,24,32,64])"


BUILDERS = {
    "resnet_basic": build_resnet_basic,
    "resnet_bottleneck": build_resnet_bottleneck,
    "mobilenet_v2": build_mobilenet_v2,
    "mobilenet_v3": build_mobilenet_v3,
    "efficientnet": build_efficientnet,
    "densenet": build_densenet,
    "inception": build_inception,
    "squeezenet": build_squeezenet,
    "regnet": build_regnet,
    "vgg": build_vgg,
    "alexnet": build_alexnet,
    "shufflenet_v2": build_shufflenet_v2,
}

Export = collections.namedtuple(
    "Export", "name builder opset fold_bn convert_to dynamic_batch", defaults=(17, True, None, True)
)
EXPORTS = [Export(name, name) for name in BUILDERS] + [
    Export("resnet_basic_opset11", "resnet_basic", opset=11),
    Export("mobilenet_v2_opset13", "mobilenet_v2", opset=13),
    Export("shufflenet_v2_opset18", "shufflenet_v2", opset=18),   # ReduceMean axes as an input
    Export("mobilenet_v3_opset20", "mobilenet_v3", opset=20),     # the TorchScript exporter's max
    # Opset 21 is past the TorchScript exporter: export at 20, convert with onnx's converter.
    Export("mobilenet_v3_opset21", "mobilenet_v3", opset=20, convert_to=21),
    Export("resnet_basic_bn_kept", "resnet_basic", fold_bn=False),
    Export("mobilenet_v2_bn_kept", "mobilenet_v2", fold_bn=False),
    # Without dynamic_axes (traced at batch 2): ShuffleNet's channel shuffle then reshapes to
    # constant shapes instead of Shape/Gather/Unsqueeze/Concat chains. Only batch 2 runs.
    Export("shufflenet_v2_static_batch", "shufflenet_v2", dynamic_batch=False),
]


# --------------------------------------------------------------------------------------------
# Weights: torchvision's init, then BN statistics measured on random data (so activations stay
# at a sane scale through the depth) and perturbed, random BN affine parameters, and no zero
# biases (torchvision zero-initialises them, which would leave bias handling untested).
# --------------------------------------------------------------------------------------------

def randomize(model, shape, seed):
    g = torch.Generator().manual_seed(seed + 1)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):  # torchvision's N(0, 0.01) heads give near-zero logits
                nn.init.kaiming_uniform_(m.weight, generator=g)
            if isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) - 0.5) * 0.2)
        for bn in bns:
            bn.weight.copy_(0.5 + torch.rand(bn.weight.shape, generator=g))
            bn.bias.copy_(0.2 * torch.randn(bn.bias.shape, generator=g))
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average over the calibration batches
        if bns:
            model.train()
            for _ in range(4):
                model(torch.randn((16, *shape), generator=g))
        for bn in bns:
            std = bn.running_var.sqrt()
            bn.running_mean.add_(0.1 * std * torch.randn(bn.running_mean.shape, generator=g))
            bn.running_var.mul_(0.8 + 0.45 * torch.rand(bn.running_var.shape, generator=g))
            bn.momentum = 0.1
    model.eval()


# --------------------------------------------------------------------------------------------
# Export and check.
# --------------------------------------------------------------------------------------------

def export(model, shape, opset, fold_bn, dynamic_batch):
    buf = io.BytesIO()
    kwargs = dict(
        input_names=["input"], output_names=["logits"], opset_version=opset, do_constant_folding=True,
        dynamo=False,
    )
    if dynamic_batch:
        kwargs["dynamic_axes"] = {"input": {0: "N"}, "logits": {0: "N"}}
    if not fold_bn:
        # PRESERVE on a model in eval mode exports it for inference (Dropout gone, BN with
        # training_mode 0) but skips the eval peephole pass that folds BN into the convs.
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
    batch = 1 if dynamic_batch else 2
    torch.onnx.export(model, torch.zeros((batch, *shape)), buf, **kwargs)
    return onnx.load_from_string(buf.getvalue())


def details(model):
    """The shape-handling nodes, with attributes and constant inputs."""
    consts = constants(model)
    lines = []
    shape_values = set()  # values computed from a Shape: sizes, split points
    for n in model.graph.node:
        on_shapes = any(i in shape_values for i in n.input)
        if n.op_type == "Shape" or (on_shapes and n.op_type not in ("Reshape", "Slice", "Expand")):
            shape_values.update(n.output)
        if n.op_type in UNUSUAL or on_shapes:
            ins = [input_text(i, consts, named=True) for i in n.input]
            lines.append(f"    {n.op_type:<18} {n.name:<28} in({', '.join(ins)}) {attr_text(n)}")
    return lines


def check_bn(name, model, fold_bn):
    bns = [n for n in model.graph.node if n.op_type == "BatchNormalization"]
    if fold_bn:
        return len(bns)  # the caller decides which models may keep standalone BN
    if not bns:
        raise SystemExit(f"{name}: BN kept was asked for, but the graph has no BatchNormalization")
    for n in bns:
        for a in n.attribute:
            if a.name == "training_mode" and a.i != 0:
                raise SystemExit(f"{name}: {n.name} has training_mode={a.i}")
        if len(n.output) != 1:
            raise SystemExit(f"{name}: {n.name} has {len(n.output)} outputs (training-mode BN)")
    return len(bns)


def clear_zoo(out_dir):
    """Remove the previous zoo's folders (those its manifest lists, and this script's), never
    a folder this script did not write."""
    manifest_path = os.path.join(out_dir, "manifest.json")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not os.path.isfile(manifest_path):
            raise SystemExit(f"{out_dir} is not empty and has no manifest.json: not a zoo, not touching it")
        with open(manifest_path) as f:
            old = {m["name"] for m in json.load(f).get("models", [])}
        for name in sorted(old | {e.name for e in EXPORTS}):
            folder = os.path.join(out_dir, name)
            if os.path.isdir(folder):
                shutil.rmtree(folder)
        os.remove(manifest_path)
    os.makedirs(out_dir, exist_ok=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default="crates/onnx/tests/zoo")
    parser.add_argument("--details", action="store_true", help="print the shape-handling nodes' attributes")
    args = parser.parse_args()

    torch.set_num_threads(1)
    # Known and expected: the TorchScript exporter's deprecation notice, and PRESERVE's advice
    # against constant folding, which is about models in training mode (ours are in eval).
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
    warnings.filterwarnings("ignore", message=".*constant folding be turned off.*")
    clear_zoo(args.out_dir)
    manifest = {
        "generator": "scripts/export_zoo.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "onnx": onnx.__version__, "onnxruntime": ort.__version__,
        "input_name": "input", "output_name": "logits", "tolerance": TOLERANCE,
        "models": [],
    }
    rows = []
    for name, key, opset, fold_bn, convert_to, dynamic_batch in EXPORTS:
        torch.manual_seed(SEED)
        model, shape, description = BUILDERS[key]()
        randomize(model, shape, SEED)
        params = sum(p.numel() for p in model.parameters())

        onnx_model = export(model, shape, opset, fold_bn, dynamic_batch)
        if convert_to is not None:
            onnx_model = onnx.version_converter.convert_version(onnx_model, convert_to)
        final_opset = next(o.version for o in onnx_model.opset_import if o.domain in ("", "ai.onnx"))
        onnx.checker.check_model(onnx_model, full_check=True)
        bn_nodes = check_bn(name, onnx_model, fold_bn)
        if fold_bn and bn_nodes and key != "densenet":
            raise SystemExit(f"{name}: {bn_nodes} BatchNormalization nodes left after folding")

        folder = os.path.join(args.out_dir, name)
        os.makedirs(folder)
        model_path = os.path.join(folder, "model.onnx")
        onnx.save(onnx_model, model_path)

        x = torch.randn((2, *shape), generator=torch.Generator().manual_seed(SEED + 2))
        with torch.no_grad():
            expected = model(x).numpy()
        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {"input": x.numpy()})[0]
        diff = float(np.abs(got - expected).max())
        if got.shape != expected.shape or not diff <= TOLERANCE:
            raise SystemExit(f"FAIL {name}: ONNX Runtime differs from PyTorch, max |diff| {diff:.3g} "
                             f"(shapes {got.shape} vs {expected.shape})")
        if float(np.std(got)) < 0.05:
            raise SystemExit(f"FAIL {name}: logits too flat to test anything (std {np.std(got):.3g})")
        if dynamic_batch:  # a single sample must give the first row
            one = session.run(["logits"], {"input": x.numpy()[:1]})[0]
            if not np.abs(one - got[:1]).max() <= TOLERANCE:
                raise SystemExit(f"FAIL {name}: batch 1 differs from row 0 of batch 2")
        for fname, tname, arr in (("input_0.pb", "input", x.numpy()), ("output_0.pb", "logits", got)):
            with open(os.path.join(folder, fname), "wb") as f:
                f.write(numpy_helper.from_array(np.ascontiguousarray(arr), name=tname).SerializeToString())

        ops = op_counts(onnx_model)
        size = os.path.getsize(model_path)
        manifest["models"].append({
            "name": name, "architecture": key, "description": description, "opset": final_opset,
            "exported_opset": opset, "converted_with_version_converter": convert_to is not None,
            "bn_folded": fold_bn, "batch_norm_nodes": bn_nodes, "dynamic_batch": dynamic_batch,
            "input_shape": [2, *shape], "output_shape": list(got.shape),
            "parameters": params, "model_bytes": size, "max_abs_diff_vs_torch": diff, "ops": ops,
        })
        rows.append((name, final_opset, fold_bn, size, params, diff, ops, onnx_model))

    with open(os.path.join(args.out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")

    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out_dir) for f in fs)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}")
    print(f"{'name':<28}{'opset':>5} {'BN':<6}{'bytes':>7}{'params':>7} {'diff':>8}  ops")
    for name, opset, fold_bn, size, params, diff, ops, onnx_model in rows:
        op_text = " ".join(f"{k}:{v}" for k, v in ops.items())
        print(f"{name:<28}{opset:>5} {'fold' if fold_bn else 'kept':<6}{size:>7}{params:>7} {diff:8.1e}  {op_text}")
        if args.details:
            print("\n".join(details(onnx_model)))
    print(f"{len(rows)} models, {total} bytes in {args.out_dir}")


if __name__ == "__main__":
    sys.exit(main())
