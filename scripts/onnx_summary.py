"""What the zoo export scripts print about an ONNX graph: op counts, a node's attributes and
the values of its small constant inputs (shared by export_zoo.py and export_keras_zoo.py)."""

import collections

import onnx
from onnx import numpy_helper


def op_counts(model):
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))


def attr_text(node):
    parts = []
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, onnx.TensorProto):
            arr = numpy_helper.to_array(v)
            v = arr.tolist() if arr.size <= 8 else f"tensor{list(arr.shape)}"
        elif isinstance(v, bytes):
            v = v.decode()
        parts.append(f"{a.name}={v}")
    return ", ".join(parts)


def constants(model):
    """Initializers and Constant nodes' values, by name."""
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for n in model.graph.node:
        if n.op_type == "Constant":
            consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    return consts


def input_text(name, consts, named=False):
    """An input as printed: a small constant's values, a large one's shape, else its name."""
    prefix = f"{name}=" if named else ""
    if name in consts and consts[name].size <= 8:
        return f"{prefix}{consts[name].tolist()}"
    if name in consts:
        return f"{name}:{list(consts[name].shape)}" if named else f"const{list(consts[name].shape)}"
    return name
