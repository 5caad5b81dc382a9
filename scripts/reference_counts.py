"""Parameter counts of the PyTorch reference definitions (torch_models.py) of shears'
built-in architectures at 3x32x32 and 10 classes; asserted in crates/ir/src/zoo/tests.rs.

Run: python3 scripts/reference_counts.py   (needs `pip install torch`)
"""
from torch_models import VGG16, VGG11, CifarResNet, count, lenet5, vgg

for name, model in [("resnet20", CifarResNet(3)), ("resnet32", CifarResNet(5)), ("resnet56", CifarResNet(9)),
                    ("resnet110", CifarResNet(18)), ("vgg11", vgg(VGG11)), ("vgg16", vgg(VGG16)),
                    ("lenet5", lenet5()), ("lenet5@1x28x28", lenet5(in_channels=1, side=28))]:
    print(f"{name}: {count(model)}")
