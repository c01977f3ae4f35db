"""Time gpuinit.dask: chunked generation against one array, and a tensor no worker can hold.

1. Chunked vs single on one worker: ``gpuinit.dask.array(...).persist()`` on
   Dask's threaded scheduler with one worker thread (each chunk's kernel uses
   all of Numba's threads, as the single call does) against the single call
   ``init(shape)``.  Target: within 1.3x, with identical bits (checked here).
2. Larger than a worker: a LocalCluster of worker processes, each with a
   memory limit far below the tensor, computes the mean and standard deviation
   of a he_normal tensor chunk by chunk; nothing holds the whole tensor.

Writes ``benchmarks/results/dask-<device>.md``.

    python benchmarks/bench_dask.py [--device cpu|cuda] [--repeat 5]
        [--big-rows 32768] [--big-cols 32768] [--memory-limit 1GiB]
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import dask
import numba
import numpy as np
from dask.distributed import Client, LocalCluster, wait

import gpuinit as gi
import gpuinit.dask as gd
from gpuinit.bench import device_label, write_results
from gpuinit.bench import timer as _timer

RESULTS = Path(__file__).parent / "results"


SHAPE = (8192, 8192)
CHUNKINGS = [(2048, 8192), (1024, 1024), (512, 512)]
LAWS = ["glorot_uniform", "he_normal"]


def _to_host(x):
    return x.get() if hasattr(x, "get") else x


def chunked_vs_single(dev, repeat: int) -> list[str]:
    """Return the table rows of part 1 (and check the bits of every chunking)."""
    timer = _timer(dev)
    nbytes = math.prod(SHAPE) * 4
    rows = ["| initializer | chunks | n chunks | single (ms) | chunked (ms) | chunked / single "
            "| bits equal |", "|---|---|---:|---:|---:|---:|---|"]
    for law in LAWS:
        init = gi.initializers.get(law)
        single = timer(lambda init=init: init(SHAPE, seed=1, device=dev), repeat)
        expected = _to_host(init(SHAPE, seed=1, device=dev))
        for chunks in CHUNKINGS:
            x = gd.array(law, SHAPE, chunks=chunks, seed=1, device=str(dev))
            with dask.config.set(scheduler="threads", num_workers=1):
                chunked = timer(lambda: x.persist(), repeat)  # noqa: B023
                equal = np.array_equal(_to_host(x.compute()), expected)
            rows.append(f"| {law} | {chunks} | {math.prod(x.numblocks)} | {single * 1e3:.1f} | "
                        f"{chunked * 1e3:.1f} | {chunked / single:.2f} | {equal} |")
            print(rows[-1], flush=True)
    rows += ["", f"Shape {SHAPE} float32 ({nbytes / 1e9:.3f} GB). Target: chunked <= 1.3x "
             "single, identical bits."]
    return rows


def bigger_than_a_worker(dev, big_shape: tuple[int, int], memory_limit: str) -> list[str]:
    """Return the rows of part 2: moments of a tensor larger than any worker's memory."""
    nbytes = math.prod(big_shape) * 4
    chunks = (2048, big_shape[1] // 4)
    n_workers = max(1, numba.get_num_threads())
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, memory_limit=memory_limit,
                      processes=True, dashboard_address=":0") as cluster, Client(cluster) as client:
        client.run(numba.set_num_threads, 1)  # one kernel thread per single-threaded worker
        warm = gd.array("he_normal", (4096, 4096), chunks=2048, seed=0, device=str(dev))
        wait(client.compute(warm.sum()))  # load the kernels from the on-disk cache
        x = gd.array("he_normal", big_shape, chunks=chunks, seed=7, device=str(dev))
        start = time.perf_counter()
        mean, std = client.compute([x.mean(dtype=np.float64), x.std(dtype=np.float64)],
                                   sync=True)
        elapsed = time.perf_counter() - start
    expected_std = math.sqrt(2.0 / big_shape[0])  # he_normal: fan_in of the whole kernel
    return [
        f"| tensor | {big_shape} float32, {nbytes / 1e9:.2f} GB in "
        f"{math.prod(x.numblocks)} chunks of {chunks} |",
        "|---|---|",
        f"| cluster | {n_workers} worker processes x 1 thread, memory_limit {memory_limit} "
        "each |",
        f"| mean, std (expected 0, {expected_std:.6g}) | {float(mean):.3g}, {float(std):.6g} |",
        f"| time (each chunk generated once, both reductions) | {elapsed:.2f} s "
        f"({nbytes / elapsed / 1e9:.2f} GB/s generated) |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big-rows", type=int, default=32768)
    parser.add_argument("--big-cols", type=int, default=32768)
    parser.add_argument("--memory-limit", default="1GiB")
    args = parser.parse_args()
    dev = gi.device(args.device)
    threads = numba.get_num_threads()
    lines = [f"# gpuinit.dask: {dev}", "",
             f"{platform.processor() or platform.machine()}, {threads} threads, Python "
             f"{platform.python_version()}, NumPy {np.__version__}, numba {numba.__version__}, "
             f"dask {dask.__version__}; median of {args.repeat} runs after a warm-up.", "",
             "## Chunked vs single array, one worker", ""]
    lines += chunked_vs_single(dev, args.repeat)
    lines += ["", "## A tensor larger than a worker's memory", ""]
    lines += bigger_than_a_worker(dev, (args.big_rows, args.big_cols), args.memory_limit)
    path = write_results(RESULTS, f"dask-{device_label(dev)}", lines)
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
