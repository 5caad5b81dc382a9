//! ONNX model files in and out of the shears IR.
