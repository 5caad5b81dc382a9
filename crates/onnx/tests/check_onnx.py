"""Validates ONNX files written by shears with the official `onnx` package.

Usage: python3 check_onnx.py FILE.onnx...

For each file: onnx.checker.check_model with full_check (strict shape inference), a check that
the inferred output shapes match the declared ones, and, for files under 2 MB, a run of the
reference evaluator on a random batch of 2 checking the output shape and that it is finite.
Exit status: 0 all valid, 1 a file is invalid, 3 the `onnx` package is not importable.
"""

import os
import sys

try:
    import numpy as np
    import onnx
    from onnx import checker, shape_inference
except ImportError as e:  # pragma: no cover
    print(f"SKIP: cannot import onnx ({e})")
    sys.exit(3)


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check(path):
    model = onnx.load(path)
    checker.check_model(model, full_check=True)
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    for declared, got in zip(model.graph.output, inferred.graph.output):
        if dims(declared) != dims(got):
            raise ValueError(f"output {declared.name}: declared {dims(declared)}, inferred {dims(got)}")
    if os.path.getsize(path) < 2_000_000:
        from onnx.reference import ReferenceEvaluator

        inp = model.graph.input[0]
        shape = [2] + [d.dim_value for d in inp.type.tensor_type.shape.dim[1:]]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        (y,) = ReferenceEvaluator(model).run(None, {inp.name: x})
        expected = [2] + dims(model.graph.output[0])[1:]
        if list(y.shape) != expected:
            raise ValueError(f"ran to shape {list(y.shape)}, expected {expected}")
        if not np.isfinite(y).all():
            raise ValueError("output is not finite")
    print(f"ok {path}")


def main():
    failed = False
    for path in sys.argv[1:]:
        try:
            check(path)
        except Exception as e:  # noqa: BLE001 - report every file
            print(f"INVALID {path}: {type(e).__name__}: {e}")
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
