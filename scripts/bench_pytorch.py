"""PyTorch's side of `shears bench resnet20 --train`: the same CIFAR ResNet-20 (projection
shortcuts), the same batches and the same measurement (warm-up 2, median of N runs).

Run: python3 scripts/bench_pytorch.py [--runs 7] [--threads N]   (needs `pip install torch`)
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, width in enumerate([16, 32, 64]):
            for b in range(3):
                blocks.append(Block(cin, width, 2 if stage > 0 and b == 0 else 1))
                cin = width
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def median_time(fn, runs):
    for _ in range(2):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ResNet20()
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, resnet20 (median of {args.runs} runs)")
    print(f"{'mode':<10} {'batch':>6} {'latency ms':>12} {'img/s':>10}")
    model.eval()
    with torch.no_grad():
        for batch in (1, 128):
            x = torch.randn(batch, 3, 32, 32)
            t = median_time(lambda: model(x), args.runs)
            print(f"{'inference':<10} {batch:>6} {1e3 * t:>12.2f} {batch / t:>10.1f}")
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x, y = torch.randn(128, 3, 32, 32), torch.arange(128) % 10

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    t = median_time(step, args.runs)
    print(f"{'training':<10} {128:>6} {1e3 * t:>12.2f} {128 / t:>10.1f}")


if __name__ == "__main__":
    main()
