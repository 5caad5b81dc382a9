"""Parameter counts of the PyTorch reference definitions of shears' built-in architectures.

CIFAR ResNets (He et al. 2016) with 1x1 conv + BN projection shortcuts, and CIFAR VGG with BN
and one linear classifier, at 3x32x32 and 10 classes. The counts are asserted in
crates/ir/src/zoo/tests.rs. Run: python3 scripts/reference_counts.py
"""
import torch.nn as nn


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


def resnet(n, classes=10):
    layers, cin = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)], 16
    for stage, width in enumerate([16, 32, 64]):
        for block in range(n):
            layers.append(BasicBlock(cin, width, 2 if stage > 0 and block == 0 else 1))
            cin = width
    layers.append(nn.Linear(64, classes))
    return nn.Sequential(*layers)


def vgg(cfg, classes=10):
    layers, cin = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1, bias=False), nn.BatchNorm2d(v), nn.ReLU()]
            cin = v
    layers.append(nn.Linear(512, classes))
    return nn.Sequential(*layers)


def lenet5(classes=10, cin=3, side=32):
    s = ((side // 2) - 4) // 2
    return nn.Sequential(nn.Conv2d(cin, 6, 5, padding=2), nn.Conv2d(6, 16, 5), nn.Linear(16 * s * s, 120),
                         nn.Linear(120, 84), nn.Linear(84, classes))


def count(m):
    return sum(p.numel() for p in m.parameters())


VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
for name, model in [("resnet20", resnet(3)), ("resnet32", resnet(5)), ("resnet56", resnet(9)),
                    ("resnet110", resnet(18)), ("vgg11", vgg(VGG11)), ("vgg16", vgg(VGG16)),
                    ("lenet5", lenet5()), ("lenet5@1x28x28", lenet5(cin=1, side=28))]:
    print(f"{name}: {count(model)}")
