#!/usr/bin/env bash
# The retraining question ("Prune Deep Networks", Frankle et al., Renda et al., Liu et al.) on
# Fashion-MNIST, for one pruned architecture: train ResNet-20 for EPOCHS epochs keeping the
# weights of epoch REWIND, cut TARGET of its MACs by l1 once, then retrain the same cut for the
# same budget (EPOCHS - REWIND epochs) four ways:
#   fine-tune      the surviving weights at shears' fine-tuning rate (0.01, cosine)
#   lr-rewind      the surviving weights on the original schedule replayed from epoch REWIND
#   weight-rewind  the epoch-REWIND weights of the survivors on that schedule
#   scratch        fresh weights, a fresh cosine schedule at the original rate (0.1)
# Every arm uses the original training's loss, batch and augmentation (cross-entropy, 128, crop
# 2, flip)
# and evaluates after every epoch. Writes OUT/table.md and OUT/retraining.png.
#
# Usage: scripts/retrain_study.sh [OUT]   (default runs/retrain-study)
# Env: EPOCHS (4), REWIND (1), TARGET (0.75), SEED (0), SHEARS (target/release/shears).
# Takes about 45 minutes on 2 idle cores with the defaults; installs matplotlib for the plot.
set -euo pipefail
cd "$(dirname "$0")/.."
S=${SHEARS:-target/release/shears}
OUT=${1:-runs/retrain-study}
E=${EPOCHS:-4}
K=${REWIND:-1}
T=${TARGET:-0.75}
SEED=${SEED:-0}
mkdir -p "$OUT"
[ -x "$S" ] || cargo build --release --workspace
if [ ! -f "$OUT/original.onnx" ]; then
    "$S" train --model resnet20 --data fashion-mnist --epochs "$E" --lr 0.1 --seed "$SEED" \
        --keep-epoch "$K" -o "$OUT/original.onnx" --history "$OUT/original.json" --force
fi
arm() {
    local name=$1
    shift
    [ -f "$OUT/$name/report.json" ] && return 0
    "$S" prune "$OUT/original.onnx" --data fashion-mnist --criterion l1 --target-macs "$T" \
        --finetune-epochs $((E - K)) --batch 128 --distill 0 --crop-padding 2 --flip --eval-epochs \
        --seed "$SEED" -o "$OUT/$name.onnx" --report "$OUT/$name" --force "$@"
}
replay=(--rewind-epoch "$K" --original-epochs "$E" --lr 0.1)
arm fine-tune --retrain fine-tune
arm lr-rewind --retrain lr-rewind "${replay[@]}"
arm weight-rewind --retrain weight-rewind --rewind-to "$OUT/original.epoch$K.onnx" "${replay[@]}"
arm scratch --retrain scratch --lr 0.1
python3 -c "import matplotlib" 2>/dev/null || python3 -m pip install -q matplotlib
python3 scripts/retrain_table.py "$OUT"
