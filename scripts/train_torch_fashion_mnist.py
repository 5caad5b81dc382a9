"""Train a small BatchNorm CNN on Fashion-MNIST in PyTorch and export it to ONNX: a model
written the way a PyTorch user would write it, for shears to import and prune.

Network: conv3x3(1->32)-BN-ReLU, conv3x3(32->32)-BN-ReLU, maxpool, conv3x3(32->64)-BN-ReLU,
conv3x3(64->64)-BN-ReLU, maxpool, one residual block at 64 channels (conv-BN-ReLU, conv-BN,
add, ReLU), global average pool, flatten, dropout, Linear(64->10).

Training: SGD (momentum 0.9, Nesterov), lr 0.05 with a per-step cosine schedule, weight decay
5e-4, batch 128, random crop with padding 2 and horizontal flip, seeded. Inputs are normalised
exactly as shears does it: pixels / 255, then (x - 0.2860) / 0.3530, shape [N, 1, 28, 28].

Export: torch.onnx.export (TorchScript exporter, dynamo=False, opset 17) of the model in eval
mode, so BatchNorm is folded into the convolutions; input 'input' [N, 1, 28, 28], output
'logits' [N, 10], batch dimension dynamic. After export the script prints the PyTorch test
accuracy, the ONNX op types, and runs scripts/ort_eval.py on the file (ONNX Runtime accuracy).

Run: python3 scripts/train_torch_fashion_mnist.py [--epochs 12] [--out runs/torch-fmnist/torch_cnn.onnx]
                                                   [--arch small-cnn|resnet20]
                                                   [--data-dir /usr/share/datasets/fashion-mnist]
     (about 40 s per epoch on 2 otherwise idle CPU threads, so the default 12 epochs take
     about 8-9 minutes; several times longer when a build shares the cores)
Needs: torch (CPU is enough), numpy, onnx (for the export), onnxruntime (for the check), and the
Fashion-MNIST IDX files, e.g. from Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).
"""
import argparse
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ort_eval import find, read_idx  # noqa: E402  (one IDX reader for both scripts)

MEAN, STD = 0.2860, 0.3530


def load(directory, split):
    """Images as float32 in [0, 1], shape [N, 28, 28], and int64 labels."""
    images = read_idx(find(directory, f"{split}-images-idx3-ubyte")).astype(np.float32) / 255.0
    labels = read_idx(find(directory, f"{split}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)


def normalise(x):
    """[N, 28, 28] pixels in [0, 1] -> normalised [N, 1, 28, 28]."""
    return ((x - MEAN) / STD).unsqueeze(1)


def augment(padded, idx, generator):
    """Random 28x28 crops of the zero-padded (pad 2) raw images `padded[idx]`, each flipped
    horizontally with probability 1/2."""
    b = len(idx)
    dy = torch.randint(0, 5, (b,), generator=generator)
    dx = torch.randint(0, 5, (b,), generator=generator)
    ar = torch.arange(28)
    rows = (dy[:, None] + ar)[:, :, None]  # [B, 28, 1]
    cols = (dx[:, None] + ar)[:, None, :]  # [B, 1, 28]
    crops = padded[idx[:, None, None], rows, cols]  # [B, 28, 28]
    flip = torch.rand(b, generator=generator) < 0.5
    return torch.where(flip[:, None, None], crops.flip(-1), crops)


def conv_bn(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + x)


class SmallCNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(1, 32), conv_bn(32, 32), nn.MaxPool2d(2),
            conv_bn(32, 64), conv_bn(64, 64), nn.MaxPool2d(2),
            ResidualBlock(64),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.fc(self.dropout(torch.flatten(x, 1)))


@torch.no_grad()
def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    for start in range(0, len(x), batch):
        logits = model(normalise(x[start:start + batch]))
        correct += int((logits.argmax(1) == y[start:start + batch]).sum())
    return 100.0 * correct / len(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--out", default="runs/torch-fmnist/torch_cnn.onnx")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arch", choices=["small-cnn", "resnet20"], default="small-cnn",
                        help="the network: the small CNN above, or the CIFAR ResNet-20 of "
                             "scripts/torch_models.py on one input channel")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    train_x, train_y = load(args.data_dir, "train")
    test_x, test_y = load(args.data_dir, "t10k")
    padded = F.pad(train_x, (2, 2, 2, 2))  # zero pixels, padded before normalisation

    if args.arch == "resnet20":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_models import CifarResNet
        model = CifarResNet(3, in_channels=1)
    else:
        model = SmallCNN()
    batch = 128
    steps_per_epoch = math.ceil(len(train_x) / batch)
    total_steps = args.epochs * steps_per_epoch
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: 0.5 * (1.0 + math.cos(math.pi * step / total_steps)))

    print(f"train {len(train_x)}, test {len(test_x)}, {args.epochs} epochs x {steps_per_epoch} steps, "
          f"{sum(p.numel() for p in model.parameters())} parameters, {torch.get_num_threads()} threads", flush=True)
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        epoch_start = time.time()
        order = torch.randperm(len(train_x), generator=generator)
        loss_sum, correct = 0.0, 0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            x = normalise(augment(padded, idx, generator))
            y = train_y[idx]
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
        train_time = time.time() - epoch_start
        test_acc = accuracy(model, test_x, test_y)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {loss_sum / len(train_x):.4f}, "
              f"train acc {100.0 * correct / len(train_x):.2f}%, test acc {test_acc:.2f}%, "
              f"{train_time:.0f} s train, {time.time() - epoch_start:.0f} s with eval", flush=True)
    print(f"training took {time.time() - started:.0f} s", flush=True)

    model.eval()
    torch_acc = accuracy(model, test_x, test_y)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(model.eval(), dummy, args.out, dynamo=False, opset_version=17,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    try:
        import onnx
        ops = sorted({node.op_type for node in onnx.load(args.out).graph.node})
        print(f"ONNX op types: {', '.join(ops)}")
    except ImportError:
        pass
    print(f"wrote {args.out}")
    print(f"PyTorch {torch.__version__} test top-1 {torch_acc:.2f}% on {len(test_x)} images", flush=True)

    ort_eval = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ort_eval.py")
    result = subprocess.run([sys.executable, ort_eval, args.out, "--data-dir", args.data_dir])
    if result.returncode != 0:
        print("ort_eval.py failed (is onnxruntime installed?)", file=sys.stderr)
        sys.exit(result.returncode)


if __name__ == "__main__":
    main()
