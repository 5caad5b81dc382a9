"""PyTorch's side of `shears bench MODEL --against-pytorch`: the same built-in architecture
(torch_models.py), input shape, batches and measurement (warm-up 2, median of N runs).

Run: python3 scripts/bench_pytorch.py [--arch resnet20] [--input-shape 3,32,32] [--batch 1,128]
     [--train] [--runs 7] [--threads N] [--json]      (needs `pip install torch`)
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from torch_models import CifarResNet, lenet5, vgg, VGG11, VGG16

RESNETS = {"resnet20": 3, "resnet32": 5, "resnet56": 9, "resnet110": 18}


def build(arch, classes, shape):
    c, h, _ = shape
    if arch in RESNETS:
        return CifarResNet(RESNETS[arch], classes, c)
    if arch == "lenet5":
        return lenet5(classes, c, h)
    if arch in ("vgg11", "vgg16") and c == 3:
        return vgg(VGG11 if arch == "vgg11" else VGG16, classes)
    raise SystemExit(f"bench_pytorch.py: no PyTorch twin of {arch} at {shape}")


def median_time(fn, runs):
    for _ in range(2):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timing(what, batch, seconds):
    return {"what": what, "batch": batch, "median_s": seconds, "images_per_sec": batch / seconds}


def measure(model, shape, classes, batches, train, runs):
    timings = []
    model.eval()
    with torch.no_grad():
        for batch in batches:
            x = torch.randn(batch, *shape)
            timings.append(timing("inference", batch, median_time(lambda: model(x), runs)))
    if train:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
        x, y = torch.randn(128, *shape), torch.arange(128) % classes

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        timings.append(timing("training", 128, median_time(step, runs)))
    return timings


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--arch", default="resnet20")
    parser.add_argument("--input-shape", default="3,32,32")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", default="1,128")
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.input_shape.split(","))
    batches = [int(b) for b in args.batch.split(",")]
    model = build(args.arch, args.classes, shape)
    timings = measure(model, shape, args.classes, batches, args.train, args.runs)
    if args.json:
        print(json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "timings": timings}))
        return
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {args.arch} (median of {args.runs} runs)")
    print(f"{'mode':<10} {'batch':>6} {'latency ms':>12} {'img/s':>10}")
    for t in timings:
        print(f"{t['what']:<10} {t['batch']:>6} {1e3 * t['median_s']:>12.2f} {t['images_per_sec']:>10.1f}")


if __name__ == "__main__":
    main()
