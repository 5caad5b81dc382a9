#!/bin/bash
# Pruned-model speed (the README table): shears and ONNX Runtime at batch 128, the original and
# three l1 prunings without fine-tuning, three rounds. Needs a release build and onnxruntime
# (pip install onnxruntime); writes the pruned models to runs/pruned-speed/.
cd "$(dirname "$0")/.." && mkdir -p runs/pruned-speed
S=./target/release/shears
M=models/resnet20-fashion-mnist.onnx
$S prune $M --criterion l1 --target-macs 0.5 --finetune-epochs 0 -o runs/pruned-speed/l1-50.onnx --force | grep "target reached"
$S prune $M --criterion l1 --target-macs 0.75 --finetune-epochs 0 -o runs/pruned-speed/l1-75.onnx --force | grep "target reached"
$S prune $M --criterion l1 --target-macs 0.75 --scope global --round-to 8 --finetune-epochs 0 -o runs/pruned-speed/l1-75-g8.onnx --force | grep "target reached"
for round in 1 2 3; do
  for m in $M runs/pruned-speed/l1-50.onnx runs/pruned-speed/l1-75.onnx runs/pruned-speed/l1-75-g8.onnx; do
    echo "$round $m shears $($S bench $m --batch 128 --runs 15 | tail -1 | awk '{print $NF}')"
    echo "$round $m ort $(python3 scripts/ort_speed.py $m 128)"
  done
done
