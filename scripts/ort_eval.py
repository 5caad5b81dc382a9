"""Top-1 accuracy of an ONNX classifier on the Fashion-MNIST test set, with ONNX Runtime: an
independent check of a model trained and saved by shears.

Run: python3 scripts/ort_eval.py MODEL.onnx [--data-dir /usr/share/datasets/fashion-mnist]
     (needs `pip install onnxruntime numpy`)
"""
import argparse
import gzip
import os

import numpy as np
import onnxruntime as ort


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def find(directory, stem):
    for name in (stem + ".gz", stem):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    raise SystemExit(f"{stem} not found in {directory}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    images = read_idx(find(args.data_dir, "t10k-images-idx3-ubyte")).astype(np.float32) / 255.0
    labels = read_idx(find(args.data_dir, "t10k-labels-idx1-ubyte")).astype(np.int64)
    x = ((images - 0.2860) / 0.3530)[:, None, :, :]
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    correct = 0
    for start in range(0, len(x), 500):
        logits = session.run(None, {name: x[start:start + 500]})[0]
        correct += int((logits.argmax(1) == labels[start:start + 500]).sum())
    print(f"onnxruntime {ort.__version__}: {args.model} top-1 {100 * correct / len(x):.2f}% on {len(x)} images")


if __name__ == "__main__":
    main()
