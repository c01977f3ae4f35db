"""The sampling benchmark behind ``gpuinit bench``: gpuinit next to the peers, in one process.

CPU: NumPy's ``default_rng()`` (``random``/``standard_normal`` with ``out=``) and
torch (``uniform_``/``normal_``/``nn.init.trunc_normal_``) when installed.
GPU: ``cupy.random`` (legacy generator and ``default_rng()``) and torch on CUDA.
Each row gives throughput, the ratio to each installed peer (peer time / our
time: above 1, gpuinit is faster), the fraction of the device's measured write
bandwidth (a ``fill`` of the same buffer), the extra device memory, and the cold
first-call time (compilation or on-disk cache load).  The helpers ``timer`` and
``write_results`` are shared with the scripts under ``benchmarks/``, which write the
committed tables of ``benchmarks/results/``; ``gpuinit bench`` writes to
``./gpuinit-bench/`` unless given ``--out``.
"""

from __future__ import annotations

import contextlib
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numba
import numpy as np

from . import __version__, dtypes
from . import random as gr
from .devices import Device, array_module


def write_results(directory: Path | str, name: str, lines: list[str]) -> Path:
    """Write ``lines`` to ``directory/<name>.md`` (spaces become underscores); returns the path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name.replace(' ', '_')}.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _one_call(dev: Device) -> Callable[[Callable[[], object]], float]:
    """Return ``once(fn)``: the seconds of one call of ``fn`` (CUDA events on the GPU,
    ``perf_counter`` on the CPU)."""
    if dev.is_cuda:
        import cupy

        def once(fn):
            start, stop = cupy.cuda.Event(), cupy.cuda.Event()
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            return cupy.cuda.get_elapsed_time(start, stop) / 1e3
        return once

    def once(fn):
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return once


def _warm_up(dev: Device, fn: Callable[[], object]) -> None:
    """Call ``fn`` once, untimed, and wait for the device to finish it."""
    fn()
    if dev.is_cuda:
        import cupy

        cupy.cuda.Device().synchronize()


def timer(dev: Device) -> Callable[[Callable[[], object], int], float]:
    """Return ``run(fn, repeat)``: the median seconds of ``repeat`` calls after a warm-up
    (CUDA events on the GPU, ``perf_counter`` on the CPU)."""
    once = _one_call(dev)

    def run(fn, repeat):
        _warm_up(dev, fn)
        return statistics.median(once(fn) for _ in range(repeat))
    return run


def paired_timer(dev: Device) -> Callable[..., tuple[float, float]]:
    """Return ``pair(fn_a, fn_b, repeat)``: the median seconds of ``repeat`` calls of each,
    after a warm-up, the calls alternating (a, b, a, b, ...) so that a machine whose
    speed drifts during the run moves both alike and their ratio stays meaningful."""
    once = _one_call(dev)

    def pair(fn_a, fn_b, repeat):
        _warm_up(dev, fn_a)
        _warm_up(dev, fn_b)
        times_a, times_b = [], []
        for _ in range(repeat):
            times_a.append(once(fn_a))
            times_b.append(once(fn_b))
        return statistics.median(times_a), statistics.median(times_b)
    return pair


def device_label(dev: Device) -> str:
    """Return the name results are filed under: the GPU's name, or cpu-<machine>-<n>threads."""
    if dev.is_cuda:
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(dev.index)["name"]
        return name.decode() if isinstance(name, bytes) else name
    return f"cpu-{platform.machine()}-{numba.get_num_threads()}threads"


# What the suite times at each size: every distribution in every dtype.
DISTRIBUTIONS = ("uniform", "normal", "truncated_normal", "laplace")
DTYPES = ("float32", "float64", "float16", "bfloat16")


def _cases(dev, n, xp):
    """Yield (distribution, dtype, out, ours, {peer: callable}) for one size."""
    torch = None
    try:
        import torch
    except ImportError:
        pass
    tdev = "cuda" if dev.is_cuda else "cpu"
    for dtype in DTYPES:
        form = dtypes.float_format(dtype)
        try:
            out = xp.empty(n, dtype=form.numpy_dtype)
        except (TypeError, ImportError):
            continue
        ours = {
            "uniform": lambda o=out: gr.uniform(n, seed=1, out=o),
            "normal": lambda o=out: gr.normal(n, seed=1, out=o),
            "truncated_normal": lambda o=out: gr.truncated_normal(n, seed=1, out=o),
            "laplace": lambda o=out: gr.laplace(n, seed=1, out=o),
        }
        peers: dict[str, dict] = {k: {} for k in ours}
        if not dev.is_cuda and dtype in ("float32", "float64"):
            rng = np.random.default_rng(0)
            peers["uniform"]["numpy default_rng"] = (
                lambda rng=rng, out=out: rng.random(dtype=out.dtype, out=out))
            peers["normal"]["numpy default_rng"] = (
                lambda rng=rng, out=out: rng.standard_normal(dtype=out.dtype, out=out))
        if dev.is_cuda and dtype == "float32":
            # cupy.random makes float32 and float64 only (CuPy 14 refuses float16).
            import cupy

            legacy = cupy.random.RandomState(0)
            peers["uniform"]["cupy.random"] = (
                lambda r=legacy, dt=dtype: r.random_sample(n, dtype=dt))
            peers["normal"]["cupy.random"] = (
                lambda r=legacy, dt=dtype: r.standard_normal(n, dtype=dt))
            if dtype == "float32":
                g = cupy.random.default_rng(0)
                peers["uniform"]["cupy default_rng"] = (
                    lambda g=g: g.random(n, dtype=cupy.float32))
                peers["normal"]["cupy default_rng"] = (
                    lambda g=g: g.standard_normal(n, dtype=cupy.float32))
        if torch is not None:
            t = torch.empty(n, dtype=getattr(torch, dtype), device=tdev)
            peers["uniform"]["torch"] = lambda t=t: t.uniform_()
            peers["normal"]["torch"] = lambda t=t: t.normal_()
            peers["truncated_normal"]["torch"] = lambda t=t: torch.nn.init.trunc_normal_(t)
        for dist, fn in ours.items():
            yield dist, dtype, out, fn, peers[dist]


def _peer_ratio(run, fn, repeat: int, ours_s: float) -> float | None:
    """Return the peer's time over ours, or None when the peer refuses the case (a row of
    the table is not lost to one peer's error)."""
    try:
        return run(fn, repeat) / ours_s
    except Exception as exc:
        print(f"  peer skipped: {type(exc).__name__}: {exc}")
        return None


def default_sizes(dev: Device) -> list[int]:
    """Return the log2 sizes timed by default: larger on the GPU."""
    return [20, 24, 26, 28] if dev.is_cuda else [20, 25]


def sampling_rows(dev: Device, sizes: list[int], repeat: int,
                  report: Callable[[dict], None] | None = None,
                  progress: Callable[[str], None] | None = None) -> tuple[list[dict], dict]:
    """Return (rows, cold): one row per (size, distribution, dtype) with Gelem/s, the
    fraction of fill bandwidth, the extra device bytes and {peer: peer time / ours};
    cold maps (distribution, dtype) to the first call's seconds.  ``report(row)`` is
    called after each row, and ``progress(text)`` before each step that may take long
    (a first call, a compile, a row's timings), saying what it is about to do."""
    xp = array_module(dev)
    run = timer(dev)
    pair = paired_timer(dev)
    rows: list[dict] = []
    cold: dict = {}
    say = progress if progress is not None else (lambda text: None)
    if dev.is_cuda:
        import cupy
    for log2 in sizes:
        n = 1 << log2
        for dist, dtype, out, ours, peers in _cases(dev, n, xp):
            if (dist, dtype) not in cold:
                say(f"{dist} {dtype}: first call (cold: it may compile a kernel or load "
                    "it from the cache)")
                start = time.perf_counter()
                ours()
                if dev.is_cuda:
                    cupy.cuda.Device().synchronize()
                cold[(dist, dtype)] = time.perf_counter() - start
                if not dev.is_cuda and not cpu_loop_ready(dtype):
                    # The first call ran on the NumPy target (nothing compiled): make
                    # the compiled loop of the dtype ready now, announced, so that the
                    # timings below are the compiled loop's.
                    say(f"{dtype}: preparing the compiled CPU loop (loaded from Numba's "
                        "disk cache, or compiled: tens of seconds, then cached)")
                    prepare_cpu_loop(dtype, say)
            names = ", ".join(peers) if peers else "no peer"
            runs = "1 run" if repeat == 1 else f"{repeat} runs"
            say(f"{dist} {dtype} 2^{log2}: timing a fill and gpuinit (alternating), then "
                f"{names} ({runs} each)")
            # Write bandwidth: a fill of a buffer of the same bytes in a plain dtype (a
            # bfloat16 fill through ml_dtypes is far slower than the memory).
            same_bytes = out.view(dtypes.float_format(dtype).storage_dtype)
            def fill(o=same_bytes):
                o.fill(0)
            if dev.is_cuda:
                # The pool keeps freed blocks: what it holds after the runs, beyond what it
                # held before, is the most any run allocated besides ``out``.
                pool = cupy.get_default_memory_pool()
                pool.free_all_blocks()
                before = pool.total_bytes()
                fill_s, ours_s = pair(fill, ours, repeat)
                extra = pool.total_bytes() - before
            else:
                fill_s, ours_s = pair(fill, ours, repeat)  # the compiled loop, prepared above
                extra = None
            row = {"dist": dist, "dtype": dtype, "log2": log2, "gelem": n / ours_s / 1e9,
                   "bw_frac": fill_s / ours_s, "extra": extra,
                   "peers": {k: _peer_ratio(run, fn, repeat, ours_s)
                             for k, fn in peers.items()}}
            rows.append(row)
            if report is not None:
                report(row)
    return rows, cold


def cpu_loop_ready(dtype: str) -> bool:
    """Return whether the compiled CPU loop of ``dtype`` is ready in this process."""
    from .kernels import route

    return route.compiled_loop(dtypes.float_format(dtype).fmt).usable()


def prepare_cpu_loop(dtype: str, say: Callable[[str], None], every: float = 2.0) -> None:
    """Make the compiled CPU loop of ``dtype`` ready in this process (loaded from Numba's
    disk cache or compiled), calling ``say`` every ``every`` seconds while it works;
    returns None."""
    import threading

    from .kernels import route

    loop = route.compiled_loop(dtypes.float_format(dtype).fmt)
    def work() -> None:
        with contextlib.suppress(BaseException):  # raised again below, in this thread
            loop.prepare()

    worker = threading.Thread(target=work, daemon=True)
    start = time.perf_counter()
    worker.start()
    while worker.is_alive():
        worker.join(every)
        if worker.is_alive():
            say(f"{dtype}: still preparing the compiled CPU loop "
                f"({time.perf_counter() - start:.0f} s)")
    loop.prepare()  # raises what the compiler raised, if anything


def sampling_markdown(dev: Device, rows: list[dict], cold: dict, repeat: int) -> list[str]:
    """Return the markdown report of :func:`sampling_rows`."""
    lines = [f"# gpuinit sampling benchmark on {device_label(dev)}", "",
             f"numpy {np.__version__}; gpuinit {__version__}; median of {repeat} runs; "
             "ratio = peer time / gpuinit time (> 1: gpuinit faster); bandwidth fraction = "
             "output bytes / time over a `fill` of the same buffer, timed alternately with "
             "gpuinit.", "",
             "| distribution | dtype | n | Gelem/s | of fill bandwidth | extra device bytes | "
             "peers (time ratio) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dist']} | {r['dtype']} | 2^{r['log2']} | {r['gelem']:.3f} | "
                     f"{r['bw_frac']:.0%} | {_extra(r)} | {_peers(r)} |")
    lines += ["", "Cold first call (compile or on-disk cache load), seconds:", ""]
    lines += [f"- {d} {t}: {s:.2f}" for (d, t), s in cold.items()]
    return lines


def _extra(row: dict) -> str:
    return "-" if row["extra"] is None else str(row["extra"])


def _peers(row: dict) -> str:
    return ", ".join(f"{k}: {'refused' if v is None else f'{v:.2f}x'}"
                     for k, v in row["peers"].items()) or "-"


# The printed table's short column names of the peers (the markdown file has the full ones).
PEER_COLUMNS = {"numpy default_rng": "numpy", "cupy.random": "cupy", "cupy default_rng": "cupy rng",
                "torch": "torch"}
# The width the printed table keeps to: a terminal's default, without wrapping.
TABLE_WIDTH = 80


def table_lines(rows: list[dict], title: str) -> list[str]:
    """Return the printed table of :func:`sampling_rows`'s rows as plain lines of at most
    :data:`TABLE_WIDTH` characters (for any number of rows and the peers of the CPU or of
    a GPU): one column per peer, holding peer time / gpuinit time, and a legend."""
    peers = list(dict.fromkeys(k for r in rows for k in r["peers"]))
    header = ["distribution", "dtype", "n", "Gelem/s", "fill", *(
        PEER_COLUMNS.get(k, k[:8]) for k in peers)]
    cells = [[r["dist"], r["dtype"], f"2^{r['log2']}", f"{r['gelem']:.3f}",
              f"{r['bw_frac']:.0%}", *(_ratio(r["peers"], k) for k in peers)] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    right = set(range(2, len(header)))

    def line(values):
        return "  ".join(v.rjust(w) if i in right else v.ljust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    legend = ["fill: the fraction of a plain fill's bandwidth; "
              f"{', '.join(PEER_COLUMNS.get(k, k[:8]) for k in peers) or 'peers'}:",
              "peer time / gpuinit time (> 1: gpuinit is faster)"]
    lines = [title, line(header), "  ".join("-" * w for w in widths),
             *(line(c) for c in cells), *legend]
    return [text if len(text) <= TABLE_WIDTH else text[:TABLE_WIDTH - 3] + "..."
            for text in lines]


def _ratio(peers: dict, name: str) -> str:
    if name not in peers:
        return "-"
    value = peers[name]
    return "refused" if value is None else f"{value:.2f}x"


def print_table(rows: list[dict], title: str) -> None:
    """Print the rows as a table that fits :data:`TABLE_WIDTH` columns (the markdown file
    of :func:`sampling_markdown` has every column in full)."""
    print("\n".join(table_lines(rows, title)), flush=True)
