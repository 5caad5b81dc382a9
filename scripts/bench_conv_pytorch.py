"""PyTorch's side of `cargo bench -p shears-kernels --bench conv`: ResNet-20's convolution
shapes at batch 128, forward, input gradient and weight gradient (median of 9 runs, ms).

Run: python3 scripts/bench_conv_pytorch.py   (needs `pip install torch`)
"""
import statistics
import time

import torch


def median_ms(fn):
    fn()
    times = []
    for _ in range(9):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


SHAPES = [("16->16 3x3 @32", 16, 16, 32, 3, 1), ("16->32 3x3/2 @32", 16, 32, 32, 3, 2),
          ("32->32 3x3 @16", 32, 32, 16, 3, 1), ("64->64 3x3 @8", 64, 64, 8, 3, 1),
          ("32->64 1x1/2 @16", 32, 64, 16, 1, 2)]

print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
print(f"{'conv':<18} {'forward':>10} {'d input':>10} {'d weight':>10}   (ms; GFLOP/s)")
for name, cin, cout, size, k, s in SHAPES:
    x = torch.full((128, cin, size, size), 0.5)
    w = torch.full((cout, cin, k, k), 0.1)
    y = torch.nn.functional.conv2d(x, w, stride=s, padding=k // 2)
    dy = torch.full(y.shape, 0.2)
    gflop = 2 * y.numel() * cin * k * k / 1e9
    f = median_ms(lambda: torch.nn.functional.conv2d(x, w, stride=s, padding=k // 2))
    i = median_ms(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=s, padding=k // 2))
    g = median_ms(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s, padding=k // 2))
    print(f"{name:<18} {f:>6.2f} {gflop / f * 1e3:>3.0f} {i:>6.2f} {gflop / i * 1e3:>3.0f} {g:>6.2f} {gflop / g * 1e3:>3.0f}")
