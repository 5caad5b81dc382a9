#!/usr/bin/env bash
# Installs what shears' demo and tests need on a fresh Debian machine:
# the real Fashion-MNIST data set (Debian's dataset-fashion-mnist), the Python `onnx` package
# the ONNX tests use to validate exported files (it also ships the light model zoo the import
# tests read), and ONNX Runtime, which runs shears' exports in the zoo tests.
set -euo pipefail

if [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] && [ ! -e /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist
fi

if ! python3 -c "import onnx" 2>/dev/null; then
  python3 -m pip install --quiet onnx
fi

if ! python3 -c "import onnxruntime, numpy" 2>/dev/null; then
  python3 -m pip install --quiet onnxruntime numpy
fi
