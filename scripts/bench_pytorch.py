"""PyTorch's side of `shears bench resnet20 --train`: the same CIFAR ResNet-20 (torch_models.py), the same batches and the same measurement (warm-up 2, median of N runs).

Run: python3 scripts/bench_pytorch.py [--runs 7] [--threads N]   (needs `pip install torch`)
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from torch_models import CifarResNet


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
    model = CifarResNet(3)
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
