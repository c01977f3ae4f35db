"""The GPU against the CPU at scale: every distribution and dtype, bit for bit.

For each (distribution, dtype) makes ``2**log2`` values on the device and compares
windows of them (the start, the middle, the end) with the same windows made alone on
the CPU through ``offset=`` (the counter contract: a window is that slice of the whole
tensor), so the CPU computes a few windows, not the whole tensor.  Uniform and normal
must be equal bit for bit, the truncated normal within 2 float32 ulp (its inverse CDF
uses libm on one side and CUDA's math on the other).  Then blocks of the whole device
tensor, torch tensors of every float dtype filled in place with the CPU's bits and no
extra device memory, a fill inside ``torch.cuda.stream(s)`` ordered after the work on
``s``, out of memory, and the fill bandwidth against a plain fill of the same buffer.

Every check is one row; a row that raises records its error and the rest go on.  The
rows are written to ``OUT/gpu-agreement-<device>.md`` and ``.json`` after each one, so a
run stopped by a time limit keeps what it did.  Exits 1 when a row failed.

    python benchmarks/gpu_agreement.py [--log2 28] [--device cuda|cpu] [--out DIR]

``--device cpu`` runs the same checks with the CPU in the device's place (a dry run of
the script on machines without a GPU; small ``--log2``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import gpuinit as gi
from gpuinit.bench import device_label

RESULTS = Path(__file__).parent / "results"
LAWS = {
    "uniform": lambda n, **kw: gi.random.uniform(n, -1.5, 2.0, **kw),
    "normal": lambda n, **kw: gi.random.normal(n, 0.5, 2.0, **kw),
    "truncated_normal": lambda n, **kw: gi.random.truncated_normal(n, 0.0, 1.0, **kw),
    "truncated_tail": lambda n, **kw: gi.random.truncated_normal(n, 1.0, 0.5, 3.0, 6.0, **kw),
}
EXACT = ("uniform", "normal")
DTYPES = ("float32", "float64", "float16", "bfloat16")
WINDOW = 1 << 16
SEED, STREAM = 20261202, 3


def host(array) -> np.ndarray:
    """Return a NumPy copy of a NumPy/CuPy array or a torch tensor (bfloat16 as ml_dtypes)."""
    if type(array).__module__.split(".")[0] == "torch":
        from gpuinit.inplace import numpy_view

        return numpy_view(array.detach().cpu().contiguous()).copy()
    return np.ascontiguousarray(array.get() if hasattr(array, "get") else array)


def bits(array) -> np.ndarray:
    array = host(array)
    return array.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[array.dtype.itemsize])


def float32_ulps(a, b) -> float:
    """Return the largest |a - b| in float32 ulp of max(|a|, |b|)."""
    a, b = host(a).astype(np.float64), host(b).astype(np.float64)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 2.0 ** -126)
    return float((np.abs(a - b) / 2.0 ** (np.floor(np.log2(scale)) - 23)).max())


class Device:
    """The device under test: "cuda", or "cpu" for a dry run. Synchronizes and frees."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.is_cuda = kind == "cuda"

    def sync(self) -> None:
        if self.is_cuda:
            import cupy

            cupy.cuda.Device().synchronize()

    def free(self) -> None:
        if self.is_cuda:
            import cupy

            cupy.get_default_memory_pool().free_all_blocks()

    def time_ms(self, run, repeats: int = 15) -> float:
        """Return the median milliseconds of ``run()`` after two warm-up runs (CUDA events
        on the GPU)."""
        for _ in range(2):
            run()
        self.sync()
        times = []
        for _ in range(repeats):
            if self.is_cuda:
                import cupy

                start, end = cupy.cuda.Event(), cupy.cuda.Event()
                start.record()
                run()
                end.record()
                end.synchronize()
                times.append(cupy.cuda.get_elapsed_time(start, end))
            else:
                start = time.perf_counter()
                run()
                times.append((time.perf_counter() - start) * 1e3)
        return statistics.median(times)


def agreement(dev: Device, log2: int):
    """Yield one row per (law, dtype): the windows of the device's 2^log2 values against
    the same windows made alone on the CPU."""
    n = 1 << log2
    window = min(WINDOW, n)
    starts = sorted({0, (n // 2) - window // 2, n - window})
    for law, make in LAWS.items():
        for dtype in DTYPES:
            def check(law=law, make=make, dtype=dtype):
                whole = make(n, seed=SEED, stream=STREAM, dtype=dtype, device=dev.kind)
                dev.sync()
                worst, same = 0.0, True
                for first in starts:
                    alone = make(window, seed=SEED, stream=STREAM, dtype=dtype, device="cpu",
                                 offset=first)
                    part = whole[first:first + window]
                    if not np.array_equal(bits(part), bits(alone)):
                        same = False
                        worst = max(worst, float32_ulps(part, alone))
                del whole
                dev.free()
                ok = same if law in EXACT else worst <= 2.0
                result = "equal bits" if same else f"{worst:.2f} float32 ulp"
                return ok, f"{result} in {len(starts)} windows of {window}"
            yield f"{law} {dtype}: 2^{log2} values", check


def blocks(dev: Device, log2: int):
    """Yield rows for blocks of the whole device tensor: an offset near the end and a 2-D
    block, each equal to that slice of the whole."""
    n = 1 << log2
    side = 1 << (min(log2, 24) // 2)
    for law, make in LAWS.items():
        def check(make=make):
            whole = make(n, seed=7, dtype="float32", device=dev.kind)
            tail = make(4099, seed=7, dtype="float32", device=dev.kind, offset=n - 4099)
            ok = np.array_equal(bits(tail), bits(whole[-4099:]))
            matrix = whole[: side * side].reshape(side, side)
            rows, cols = side // 4, side // 4 + 1
            block = make((rows, cols), seed=7, dtype="float32", device=dev.kind,
                         full_shape=(side, side), start=(side - rows, side - cols))
            ok = ok and np.array_equal(bits(block), bits(matrix[side - rows:, side - cols:]))
            del whole, matrix
            dev.free()
            return ok, f"offset 2^{log2} - 4099 and a ({rows}, {cols}) block of {side}^2"
        yield f"{law}: blocks of the whole", check


def _torch_device_memory(dev: Device):
    """Return a function giving (torch's peak allocated bytes, CuPy pool bytes) now."""
    import torch

    if not dev.is_cuda:
        return lambda: (0, 0)
    import cupy

    pool = cupy.get_default_memory_pool()
    return lambda: (torch.cuda.max_memory_allocated(), pool.used_bytes())


def torch_in_place(dev: Device):
    """Yield rows for gpuinit.init on torch tensors of the device: every float dtype and
    law with the CPU's bits and no extra device memory; a non-contiguous view."""
    import torch

    fills = {
        "uniform_": lambda t, s: gi.init.kaiming_uniform_(t, a=5 ** 0.5, seed=s),
        "normal_": lambda t, s: gi.init.normal_(t, 0.0, 0.02, seed=s),
        "trunc_normal_": lambda t, s: gi.init.trunc_normal_(t, 0.0, 0.02, -0.04, 0.04, seed=s),
        "ones_": lambda t, s: gi.init.ones_(t),
        "constant_": lambda t, s: gi.init.constant_(t, 0.1),
        "eye_": lambda t, s: gi.init.eye_(t),
        "orthogonal_": lambda t, s: gi.init.orthogonal_(t, seed=s),
    }
    memory = _torch_device_memory(dev)
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        for name, fill in fills.items():
            def check(dtype=dtype, name=name, fill=fill):
                t = torch.empty(1024, 768, device=dev.kind, dtype=dtype)
                if dev.is_cuda:
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                before = memory()
                fill(t, 5)
                dev.sync()
                after = memory()
                extra = after[0] - before[0] + after[1] - before[1]
                expected = fill(torch.empty(1024, 768, dtype=dtype), 5)
                ok = np.array_equal(bits(t), bits(expected))
                # orthogonal_ factors a float32 matrix beside the tensor; the others
                # write in place.
                ok = ok and (extra == 0 or name == "orthogonal_")
                return ok, f"CPU's bits: {ok}; extra device bytes {extra}"
            yield f"{name} on a torch.{str(dtype).split('.')[-1]} tensor", check

    def view_check():
        base = torch.zeros(512, 1024, device=dev.kind, dtype=torch.bfloat16)
        view = base[:, ::2]
        gi.init.uniform_(view, -1.0, 1.0, seed=6)
        expected = gi.init.uniform_(torch.zeros(512, 512, dtype=torch.bfloat16), -1.0, 1.0,
                                    seed=6)
        ok = np.array_equal(bits(view), bits(expected)) and bool((base[:, 1::2] == 0).all())
        return ok, "the view's elements only"
    yield "uniform_ on a non-contiguous bfloat16 view", view_check


def streams(dev: Device):
    """Yield a row: a fill inside torch.cuda.stream(s) runs after the work queued on s."""
    def check():
        import torch

        if not dev.is_cuda:
            return True, "n/a on the CPU"
        side = torch.cuda.Stream()
        t = torch.empty(1 << 22, device="cuda")
        with torch.cuda.stream(side):
            torch.cuda._sleep(200_000_000)
            t.fill_(float("nan"))
            gi.init.normal_(t, seed=0)
        side.synchronize()
        ok = bool(torch.isfinite(t).all()) and np.array_equal(
            bits(t), bits(gi.init.normal_(torch.empty(1 << 22), seed=0)))
        return ok, "ordered after a busy stream's NaN fill"
    yield "fill on torch's current stream", check


def out_of_memory(dev: Device):
    """Yield a row: a request larger than the device raises gi.OutOfMemoryError and leaves
    CuPy's pool as it was."""
    def check():
        if dev.is_cuda:
            import cupy

            pool = cupy.get_default_memory_pool()
            pool.free_all_blocks()
            _, total = cupy.cuda.runtime.memGetInfo()
            before = pool.used_bytes(), pool.total_bytes()
        else:
            import os

            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            before = None
        try:
            gi.random.normal(int(total // 4) * 2, device=dev.kind)
            raised = False
        except gi.OutOfMemoryError:
            raised = True
        dev.free()
        after = None
        if dev.is_cuda:
            import cupy

            pool = cupy.get_default_memory_pool()
            after = pool.used_bytes(), pool.total_bytes()
        return raised and before == after, f"{int(total // 4) * 2} float32 values asked"
    yield "out of memory", check


def bandwidth(dev: Device, log2: int):
    """Yield rows: milliseconds and GB/s of each fill of 2^log2 values against a plain
    fill (``ndarray.fill``) of the same buffer, measured in the same run."""
    n = 1 << log2
    for law in ("uniform", "normal"):
        for dtype in ("float32", "bfloat16", "float64"):
            def check(law=law, dtype=dtype):
                dev.free()  # the previous row's buffers
                out = LAWS[law](n, seed=1, dtype=dtype, device=dev.kind)
                plain = out.view(np.uint16) if dtype == "bfloat16" else out
                fill_ms = dev.time_ms(lambda: LAWS[law](n, seed=1, dtype=dtype, out=out))
                plain_ms = dev.time_ms(lambda: plain.fill(0))
                gbytes = out.nbytes / 1e9
                return True, (f"{fill_ms:.3f} ms ({gbytes / fill_ms * 1e3:.0f} GB/s); plain "
                              f"fill {plain_ms:.3f} ms ({gbytes / plain_ms * 1e3:.0f} GB/s); "
                              f"ratio {plain_ms / fill_ms:.2f}")
            yield f"bandwidth {law} {dtype} 2^{log2}", check


def write(out: Path, label: str, args, rows: list[dict]) -> None:
    lines = [f"# GPU against CPU on {label}", "",
             f"gpuinit {gi.__version__}; `python benchmarks/gpu_agreement.py --log2 "
             f"{args.log2} --device {args.device}`. Uniform and normal must match bit for "
             "bit; the truncated normal within 2 float32 ulp.", "",
             "| check | result | detail | seconds |", "|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['check']} | {row['result']} | {row['detail']} | "
                     f"{row['seconds']:.2f} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"gpu-agreement-{label}.md").write_text("\n".join(lines) + "\n")
    (out / f"gpu-agreement-{label}.json").write_text(json.dumps(rows, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log2", type=int, default=28)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--skip-torch", action="store_true", help="leave out the torch rows")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not gi.cuda_available():
        print(f"no usable CUDA device: {gi.devices.cuda_unavailable_reason()}")
        return 1
    dev = Device(args.device)
    label = device_label(gi.device(args.device))
    checks = [agreement(dev, args.log2), blocks(dev, args.log2)]
    if not args.skip_torch:
        checks += [torch_in_place(dev), streams(dev)]
    checks += [out_of_memory(dev), bandwidth(dev, args.log2)]
    rows = []
    for group in checks:
        for name, check in group:
            start = time.perf_counter()
            try:
                ok, detail = check()
                result = "ok" if ok else "FAILED"
            except Exception as exc:  # one row's error must not lose the others
                result, detail = "ERROR", f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            rows.append({"check": name, "result": result, "detail": detail,
                         "seconds": time.perf_counter() - start})
            print(f"{name}: {result}; {detail}", flush=True)
            write(Path(args.out), label, args, rows)
    return 0 if all(r["result"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
