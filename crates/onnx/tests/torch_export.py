"""A small PyTorch CNN exported with torch.onnx.export, for the test in torch_import.rs.

Usage:
  python3 torch_export.py export OUT.onnx   write the network (seeded) as ONNX
  python3 torch_export.py compare FILE.onnx run FILE with onnx's reference evaluator and
                                            compare with the PyTorch network's output

The network uses what PyTorch CNNs are made of: Conv+BN+ReLU6, max pooling, a squeeze-and-
excitation gate (Hardsigmoid, Mul), Hardswish, a residual Add, LeakyReLU, global average
pooling, flatten, dropout and a Linear head. Exit status: 0 done, 1 outputs differ, 3 torch or
onnx is not usable here (the test skips).
"""

import sys

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover
    print(f"SKIP: cannot import torch ({e})")
    sys.exit(3)


class Net(nn.Module):
    def __init__(self, classes=7):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.pool = nn.MaxPool2d(2)
        self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.act = nn.Hardswish()
        self.se = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(8, 4, 1), nn.ReLU(), nn.Conv2d(4, 8, 1), nn.Hardsigmoid()
        )
        self.leaky = nn.LeakyReLU(0.1)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(8, classes))

    def forward(self, x):
        x = self.pool(self.stem(x))
        y = self.act(self.conv(x))
        y = y * self.se(y)
        return self.head(self.leaky(x + y))


def network():
    torch.manual_seed(0)
    model = Net().eval()
    # Non-trivial BN statistics, so folding them is exercised.
    with torch.no_grad():
        bn = model.stem[1]
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    return model


def export(path):
    try:
        torch.onnx.export(
            network(),
            (torch.randn(2, 3, 16, 16),),
            path,
            opset_version=17,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        )
    except Exception as e:  # noqa: BLE001 - any exporter failure means: skip
        print(f"SKIP: torch.onnx.export failed ({type(e).__name__}: {e})")
        sys.exit(3)


def compare(path):
    try:
        import onnx
        from onnx.reference import ReferenceEvaluator
    except ImportError as e:
        print(f"SKIP: cannot import onnx ({e})")
        sys.exit(3)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = network()(x).numpy()
    (got,) = ReferenceEvaluator(model).run(None, {model.graph.input[0].name: x.numpy()})
    diff = float(abs(got - expected).max())
    print(f"max abs difference {diff:.3g}")
    sys.exit(0 if got.shape == expected.shape and diff < 1e-4 else 1)


if __name__ == "__main__":
    {"export": export, "compare": compare}[sys.argv[1]](sys.argv[2])
