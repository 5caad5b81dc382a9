#!/usr/bin/env bash
# Reproduces the pruning results in the README: resnet20 trained on Fashion-MNIST
# (models/resnet20-fashion-mnist.onnx), pruned by l1, fpgm and kmeans to 50% of its MACs with
# 3 fine-tuning epochs and to 25% of its MACs with 2. Each run writes its model, report and
# log under runs/prune/. Usage: scripts/prune_experiments.sh [SHEARS_BINARY] [CRITERIA...]
set -euo pipefail
cd "$(dirname "$0")/.."
shears=${1:-target/release/shears}
shift || true
criteria=${*:-l1 fpgm kmeans}
model=models/resnet20-fashion-mnist.onnx
for target in "0.5 3" "0.75 2"; do
    set -- $target
    for c in $criteria; do
        out=runs/prune/$c-macs$1
        mkdir -p "$out"
        /usr/bin/time -f "%e s wall" "$shears" prune "$model" --data fashion-mnist \
            --criterion "$c" --target-macs "$1" --finetune-epochs "$2" --lr 0.01 \
            -o "$out/model.onnx" --force --report "$out" 2>&1 | grep -v '^epoch.*\[' > "$out/log.txt"
        tail -4 "$out/log.txt"
    done
done
