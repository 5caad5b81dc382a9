"""img/s of one ONNX model in ONNX Runtime (2 intra-op threads): the median of 30 runs."""
import sys, time, numpy as np, onnxruntime as ort
o = ort.SessionOptions(); o.intra_op_num_threads = 2; o.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
i = s.get_inputs()[0]
batch = int(sys.argv[2])
x = np.random.randn(batch, *[d if isinstance(d, int) else 1 for d in i.shape[1:]]).astype(np.float32)
for _ in range(3): s.run(None, {i.name: x})
t = []
for _ in range(30):
    a = time.perf_counter(); s.run(None, {i.name: x}); t.append(time.perf_counter() - a)
print(f"{batch / sorted(t)[len(t) // 2]:.0f}")
