"""The GPU against the CPU at scale: every distribution and dtype, bit for bit.

Needs a CUDA device (CuPy + numba-cuda).  For each (distribution, dtype) makes
``2**log2`` values on the GPU and on the CPU with the same seed and stream and
compares them: uniform and normal must be equal bit for bit, the truncated normal
within 2 float32 ulp (its inverse CDF uses libm on one side and CUDA's math on the
other).  Then a block at an offset near the end equals the same slice of the whole
GPU tensor, and torch CUDA tensors (float32, bfloat16, a non-contiguous view) are
filled in place with the CPU's bits.  Writes ``gpu-agreement-<device>.md`` and
exits 1 when anything disagrees.

    python benchmarks/gpu_agreement.py [--log2 28] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import gpuinit as gi
from gpuinit.bench import device_label, write_results
from gpuinit.devices import cuda_unavailable_reason

RESULTS = Path(__file__).parent / "results"
LAWS = {
    "uniform": lambda n, **kw: gi.random.uniform(n, -1.5, 2.0, **kw),
    "normal": lambda n, **kw: gi.random.normal(n, 0.5, 2.0, **kw),
    "truncated_normal": lambda n, **kw: gi.random.truncated_normal(n, 0.0, 1.0, **kw),
    "truncated_tail": lambda n, **kw: gi.random.truncated_normal(n, 1.0, 0.5, 3.0, 6.0, **kw),
}
DTYPES = ("float32", "float64", "float16", "bfloat16")


def _bits(array) -> np.ndarray:
    array = np.ascontiguousarray(array.get() if hasattr(array, "get") else array)
    return array.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[array.dtype.itemsize])


def _float32_ulps(a, b) -> float:
    """Return the largest |a - b| in float32 ulp of max(|a|, |b|)."""
    a = np.asarray(a.get() if hasattr(a, "get") else a).astype(np.float64)
    b = np.asarray(b).astype(np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 2.0 ** -126)
    return float((np.abs(a - b) / 2.0 ** (np.floor(np.log2(scale)) - 23)).max())


def agreement(log2: int) -> list[dict]:
    """Return one row per (law, dtype): equal bits, or the largest float32 ulp gap."""
    import cupy

    rows = []
    n = 1 << log2
    for law, make in LAWS.items():
        for dtype in DTYPES:
            start = time.perf_counter()
            on_gpu = make(n, seed=20261202, stream=3, dtype=dtype, device="cuda")
            cupy.cuda.Device().synchronize()
            on_cpu = make(n, seed=20261202, stream=3, dtype=dtype, device="cpu")
            same = bool(np.array_equal(_bits(on_gpu), _bits(on_cpu)))
            gap = 0.0 if same else _float32_ulps(on_gpu, on_cpu)
            exact = law in ("uniform", "normal")
            ok = same if exact else gap <= 2.0
            rows.append({"law": law, "dtype": dtype, "n": n, "same": same, "ulps": gap,
                         "ok": ok, "seconds": time.perf_counter() - start})
            print(f"{law} {dtype} 2^{log2}: {'equal bits' if same else f'{gap:.2f} ulp'}"
                  f"{'' if ok else '  FAILED'}", flush=True)
            del on_gpu, on_cpu
            cupy.get_default_memory_pool().free_all_blocks()
    return rows


def blocks(log2: int) -> list[dict]:
    """Return rows for blocks of the whole GPU tensor: an offset near the end, and a
    2-D block, each equal to that slice of the whole."""
    rows = []
    n = 1 << log2
    for law, make in LAWS.items():
        whole = make(n, seed=7, dtype="float32", device="cuda")
        tail = make(4099, seed=7, dtype="float32", device="cuda", offset=n - 4099)
        rows.append({"what": f"{law}: offset 2^{log2} - 4099",
                     "ok": bool(np.array_equal(_bits(tail), _bits(whole[-4099:])))})
        if n < 1 << 24:
            continue
        matrix = whole[: 1 << 24].reshape(4096, 4096)
        block = make((1000, 1001), seed=7, dtype="float32", device="cuda",
                     full_shape=(4096, 4096), start=(3000, 3001))
        rows.append({"what": f"{law}: block (1000, 1001) at (3000, 3001) of 4096 x 4096",
                     "ok": bool(np.array_equal(_bits(block),
                                               _bits(matrix[3000:4000, 3001:4002])))})
    return rows


def torch_in_place() -> list[dict]:
    """Return rows for gpuinit.init on torch CUDA tensors: float32, bfloat16 and a
    non-contiguous view, each with the CPU's bits, and the device memory the fill
    took beyond the tensor (none: no float32 temporary)."""
    import cupy
    import torch

    rows = []
    pool = cupy.get_default_memory_pool()
    for dtype in (torch.float32, torch.bfloat16):
        t = torch.empty(4096, 4096, device="cuda", dtype=dtype)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before, pool_before = torch.cuda.memory_allocated(), pool.used_bytes()
        gi.init.normal_(t, 0.0, 0.02, seed=5)
        torch.cuda.synchronize()
        extra = torch.cuda.max_memory_allocated() - before + pool.used_bytes() - pool_before
        expected = gi.init.normal_(torch.empty(4096, 4096, dtype=dtype), 0.0, 0.02, seed=5)
        as_bits = torch.int16 if dtype == torch.bfloat16 else torch.int32
        same = torch.equal(t.cpu().view(as_bits), expected.view(as_bits))
        rows.append({"what": f"normal_ on a torch.{str(dtype).split('.')[-1]} CUDA tensor "
                             f"(extra device memory {extra} bytes)", "ok": same and extra == 0})
    base = torch.zeros(512, 1024, device="cuda")
    view = base[:, ::2]
    gi.init.uniform_(view, -1.0, 1.0, seed=6)
    expected = gi.init.uniform_(torch.zeros(512, 512), -1.0, 1.0, seed=6)
    rows.append({"what": "uniform_ on a non-contiguous CUDA view",
                 "ok": torch.equal(view.cpu(), expected) and bool((base[:, 1::2] == 0).all())})
    return rows


def out_of_memory() -> list[dict]:
    """Return a row: a request larger than the device raises gi.OutOfMemoryError and
    leaves CuPy's pool as it was."""
    import cupy

    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    before = pool.used_bytes(), pool.total_bytes()
    _, total = cupy.cuda.runtime.memGetInfo()
    try:
        gi.random.normal(int(total // 4) * 2, device="cuda")
        raised = False
    except gi.OutOfMemoryError:
        raised = True
    pool.free_all_blocks()
    after = pool.used_bytes(), pool.total_bytes()
    what = (f"normal of {int(total // 4) * 2} float32 values ({total} bytes on the device): "
            "OutOfMemoryError, pool unchanged")
    return [{"what": what, "ok": raised and before == after}]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2", type=int, default=28)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    if not gi.cuda_available():
        print(f"no usable CUDA device: {cuda_unavailable_reason()}")
        return 1
    label = device_label(gi.device("cuda"))
    rows = agreement(args.log2)
    checks = blocks(args.log2) + torch_in_place() + out_of_memory()
    lines = [f"# GPU against CPU on {label}", "",
             f"gpuinit {gi.__version__}; produced by `python benchmarks/gpu_agreement.py "
             f"--log2 {args.log2}`. Uniform and normal must match bit for bit; the truncated "
             "normal within 2 float32 ulp.", "",
             "| distribution | dtype | values | result | seconds |", "|---|---|---|---|---|"]
    for row in rows:
        result = "equal bits" if row["same"] else f"{row['ulps']:.2f} float32 ulp"
        lines.append(f"| {row['law']} | {row['dtype']} | 2^{args.log2} | "
                     f"{result}{'' if row['ok'] else ' (FAILED)'} | {row['seconds']:.1f} |")
    lines += ["", "| check | result |", "|---|---|"]
    lines += [f"| {c['what']} | {'ok' if c['ok'] else 'FAILED'} |" for c in checks]
    path = write_results(args.out, f"gpu-agreement-{label}", lines)
    print("\n".join(lines[6:]))
    print(f"wrote {path}")
    return 0 if all(r["ok"] for r in rows + checks) else 1


if __name__ == "__main__":
    sys.exit(main())
