"""Run an ONNX model with ONNX Runtime (CPU) on one input stored as an ONNX TensorProto and
write its outputs as TensorProtos, the format of ONNX's backend test data
(input_0.pb / output_0.pb, as written by scripts/export_zoo.py).

Run:   python3 scripts/ort_run.py MODEL.onnx INPUT.pb OUTPUT.pb [OUTPUT_1.pb ...]
       (output K of the model goes to the K-th OUTPUT path; outputs without a path are not run)
Needs: onnx, onnxruntime, numpy.

The input feeds the model's first graph input, whatever the tensor's own name; each written
tensor is named after its model output. Errors (a missing or unreadable file, a model
ONNX Runtime cannot load or run) go to stderr, with exit status 1.
"""

import os
import sys


def fail(message):
    print(f"ort_run: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) < 4:
        fail("usage: python3 scripts/ort_run.py MODEL.onnx INPUT.pb OUTPUT.pb [OUTPUT_1.pb ...]")
    model_path, input_path, *output_paths = sys.argv[1:]
    for path in (model_path, input_path):
        if not os.path.isfile(path):
            fail(f"{path}: no such file")
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
        from onnx import numpy_helper
    except ImportError as e:
        fail(f"cannot import onnx/onnxruntime/numpy ({e})")

    try:
        tensor = onnx.TensorProto()
        with open(input_path, "rb") as f:
            tensor.ParseFromString(f.read())
        x = numpy_helper.to_array(tensor)
    except Exception as e:  # noqa: BLE001 - any parse failure is the same error to the caller
        fail(f"{input_path}: not a readable TensorProto ({e})")

    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: keep stderr for our own messages
        session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        fail(f"{model_path}: ONNX Runtime cannot load the model ({e})")

    first_input = session.get_inputs()[0]
    outputs = [o.name for o in session.get_outputs()]
    if len(output_paths) > len(outputs):
        fail(f"{model_path} has {len(outputs)} outputs, {len(output_paths)} paths were given")
    outputs = outputs[: len(output_paths)]
    try:
        ys = session.run(outputs, {first_input.name: x})
    except Exception as e:  # noqa: BLE001
        fail(f"{model_path}: running on {input_path} (shape {list(x.shape)}, {x.dtype}) failed ({e})")

    for name, y, output_path in zip(outputs, ys, output_paths):
        try:
            out = numpy_helper.from_array(np.ascontiguousarray(y), name=name)
            with open(output_path, "wb") as f:
                f.write(out.SerializeToString())
        except Exception as e:  # noqa: BLE001
            fail(f"{output_path}: cannot write ({e})")


if __name__ == "__main__":
    main()
