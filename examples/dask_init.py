"""A weight larger than any worker's memory, made chunk by chunk on a Dask cluster.

    python examples/dask_init.py                       # 2 GiB kernel, 512 MiB per worker
    python examples/dask_init.py --rows 65536 --cols 16384 --memory-limit 1GiB

Each chunk is generated on the worker that runs it, as that block of the whole
tensor (gpuinit's counter contract), so the chunks agree bit for bit with the
single-array initializer and He's fan_in is the whole kernel's.  Only moments
and one chunk travel back to the client.
"""

import argparse
import math
import time

import numpy as np
from dask.distributed import Client, LocalCluster

import gpuinit as gi
import gpuinit.dask as gd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--cols", type=int, default=32768)
    parser.add_argument("--chunk-rows", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="512MiB")
    args = parser.parse_args()
    shape = (args.rows, args.cols)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1,
                      memory_limit=args.memory_limit, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        kernel = gd.array("he_normal", shape, chunks=(args.chunk_rows, args.cols), seed=0)
        print(f"{kernel!r}: {kernel.nbytes / 2**30:.2f} GiB in {kernel.npartitions} chunks, "
              f"workers of {args.memory_limit} each")
        start = time.perf_counter()
        mean, std = client.compute([kernel.mean(dtype=np.float64),
                                    kernel.std(dtype=np.float64)], sync=True)
        elapsed = time.perf_counter() - start
        print(f"mean {float(mean):+.2e}, std {float(std):.6f} (He: sqrt(2 / fan_in) = "
              f"{math.sqrt(2.0 / args.rows):.6f}) in {elapsed:.1f} s")
        block = client.compute(kernel[:8, :8], sync=True)
    single = gi.initializers.get("he_normal")(shape, seed=0)[:8, :8] if kernel.nbytes < 2**28 \
        else gi.initializers.get("he_normal")((8, 8), seed=0, full_shape=shape, start=(0, 0))
    same = np.array_equal(block, single)
    print(f"the first 8 x 8 block equals the single-array initializer's: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
