"""What a global 30% channel ratio removes from networks with grouped convolutions, by
Torch-Pruning and by shears: torchvision's RegNetX-400MF and ResNeXt-50 32x4d (seeded random
weights; BN kept, so that both tools count the same parameters).

Run:   python3 scripts/grouped_reference.py [--shears target/release/shears] [--out DIR]
Needs: torch, torchvision (scripts/install-torch.sh), torch-pruning 1.6, onnx.

For each model it exports DIR/NAME.onnx (TorchScript exporter, opset 17, BN kept), prunes it
with Torch-Pruning's MetaPruner (GroupMagnitudeImportance p=1, its default mean
normalisation, global_pruning=True, pruning_ratio=0.3, the classifier ignored) and with
`shears prune NAME.onnx --criterion l1 --scope global --ratio 0.3`, and prints the share of
parameters each removed.
"""

import argparse
import os
import re
import subprocess
import warnings

import torch
import torch_pruning as tp
import torchvision

MODELS = ["regnet_x_400mf", "resnext50_32x4d"]
RATIO = 0.3


def params(model):
    return sum(p.numel() for p in model.parameters())


def torch_pruning_share(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    before = params(model)
    pruner = tp.pruner.MetaPruner(
        model, torch.randn(1, 3, 224, 224),
        importance=tp.importance.GroupMagnitudeImportance(p=1),
        pruning_ratio=RATIO, global_pruning=True, ignored_layers=[model.fc],
    )
    pruner.step()
    return before, 1 - params(model) / before


def export(name, path):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    torch.onnx.export(model, torch.zeros(1, 3, 224, 224), path, input_names=["input"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    return params(model)


def shears_share(shears, path, out):
    run = subprocess.run([shears, "prune", path, "--criterion", "l1", "--scope", "global",
                          "--ratio", str(RATIO), "-o", out, "--force"],
                         capture_output=True, text=True, check=True)
    info = subprocess.run([shears, "info", path], capture_output=True, text=True, check=True).stdout
    pruned = subprocess.run([shears, "info", out], capture_output=True, text=True, check=True).stdout
    count = lambda text: int(re.search(r"(\d+) parameters", text).group(1))
    return count(info), 1 - count(pruned) / count(info), run.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shears", default="target/release/shears")
    parser.add_argument("--out", default="runs/grouped")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    os.makedirs(args.out, exist_ok=True)
    print(f"{'model':<18} {'parameters':>11} {'Torch-Pruning':>14} {'shears':>8}")
    for name in MODELS:
        path = os.path.join(args.out, f"{name}.onnx")
        export(name, path)
        before, tp_share = torch_pruning_share(name)
        _, shears, _ = shears_share(args.shears, path, os.path.join(args.out, f"{name}.pruned.onnx"))
        print(f"{name:<18} {before:>11,} {tp_share:>13.1%} {shears:>8.1%}")


if __name__ == "__main__":
    main()
