"""Make parameters on the best device and check them against their laws."""

import math

import gpuinit as gi

print(f"device: {gi.device('auto')}  (CUDA usable: {gi.cuda_available()})")

limit = math.sqrt(6.0 / (784 + 256))  # Glorot-uniform limit of a 784x256 kernel
w = gi.random.uniform((784, 256), -limit, limit, seed=0)
b = gi.random.truncated_normal((256,), 0.0, 0.02, seed=0, stream=1)
h = gi.random.normal((4096, 4096), 0.0, 0.02, seed=0, stream=2, dtype="float16")
print(f"kernel {w.shape} {w.dtype}: min {float(w.min()):+.4f} max {float(w.max()):+.4f} "
      f"(limit ±{limit:.4f})")
print(f"bias   {b.shape} {b.dtype}: |max| {float(abs(b).max()):.4f} (bound 2σ = 0.04)")
print(f"embed  {h.shape} {h.dtype}: std {float(h.astype('float32').std()):.5f} (expected 0.02)")

# Any block of a tensor can be made alone and equals that block of the whole.
whole = gi.random.normal((8, 8), seed=7)
block = gi.random.normal((4, 3), seed=7, full_shape=(8, 8), start=(2, 5))
print("block == slice of whole:", bool((block == whole[2:6, 5:8]).all()))
