"""CPU orthogonal matrices are a function of the seed alone, not of the BLAS thread count.

A multi-threaded LAPACK QR splits its updates by the thread count, and the rounding
follows the split; gpuinit runs the CPU QR on one BLAS thread.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import gpuinit as gi
from gpuinit import qr

threadpoolctl = pytest.importorskip("threadpoolctl")


def test_the_cpu_qr_runs_blas_on_one_thread(monkeypatch):
    seen = []
    real = qr._householder_q_in_place

    def spy(gaussian):
        seen.append({lib["num_threads"] for lib in threadpoolctl.threadpool_info()
                     if lib["user_api"] == "blas"})
        return real(gaussian)

    monkeypatch.setattr(qr, "_householder_q_in_place", spy)
    gi.initializers.Orthogonal(seed=0)((64, 32))
    gi.init.orthogonal_(np.empty((16, 48), dtype=np.float32), seed=1)
    assert seen and all(threads <= {1} for threads in seen)


_DIGEST = """
import hashlib, gpuinit as gi
h = hashlib.sha256()
for shape in ((257, 129), (129, 257)):
    for dtype in ("float32", "float64"):
        h.update(gi.initializers.Orthogonal(seed=3)(shape, dtype=dtype, device="cpu").tobytes())
print(h.hexdigest())
"""


def test_the_bits_do_not_follow_the_blas_thread_count():
    digests = set()
    for threads in ("1", "4"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads}
        env.pop("NUMBA_ENABLE_CUDASIM", None)
        done = subprocess.run([sys.executable, "-c", _DIGEST], capture_output=True,
                              text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.add(done.stdout.strip())
    assert len(digests) == 1
