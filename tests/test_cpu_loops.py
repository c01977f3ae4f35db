"""The two CPU fill loops: the one-core loop that small outputs take (compiled in
seconds, one for every law) and the parallel vectorized loops of larger ones run
the same scalar source, so they must give the same bits for every request."""

import numpy as np
import pytest

from gpuinit.kernels import cpu

from .helpers import DISTRIBUTIONS, DTYPES, bits


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_the_two_cpu_loops_give_the_same_bits(dist, dtype, monkeypatch):
    sample = DISTRIBUTIONS[dist]
    requests = [dict(shape=(3, 2999)), dict(shape=(517,), offset=3),
                dict(shape=(5, 1201), full_shape=(9, 3001), start=(2, 7)),
                dict(shape=(4, 3, 5), full_shape=(6, 7, 5), start=(1, 2, 0))]
    for request in requests:
        results = []
        for limit in (1 << 62, -1):
            monkeypatch.setattr(cpu, "SERIAL_MAX_VALUES", limit)
            monkeypatch.setattr(cpu, "PARALLEL_MIN_VALUES", limit)
            results.append(sample(**request, seed=31, stream=2, dtype=dtype, device="cpu"))
        np.testing.assert_array_equal(bits(results[0]), bits(results[1]))


def test_mid_size_outputs_take_the_parallel_loop_once_it_is_compiled(monkeypatch):
    calls = []
    real = cpu.serial_fill
    monkeypatch.setattr(cpu, "serial_fill", lambda *args: (calls.append(1), real(*args)))
    fresh = cpu._make_loop(0, 0)  # not compiled, and kept from the on-disk cache:
    monkeypatch.setitem(cpu._LOOPS, (0, 0), fresh)
    monkeypatch.setattr(cpu, "_load_cached", lambda loop, args: bool(loop.signatures))
    from gpuinit import random

    middle = cpu.PARALLEL_MIN_VALUES * 2
    first = random.uniform(middle, seed=4, device="cpu")
    assert calls == [1]  # the law's parallel loop is not compiled yet
    random.uniform(cpu.SERIAL_MAX_VALUES + 4, seed=4, device="cpu")  # compiles it
    assert calls == [1]
    again = random.uniform(middle, seed=4, device="cpu")
    assert calls == [1] and (bits(again) == bits(first)).all()
    random.uniform(cpu.PARALLEL_MIN_VALUES, seed=4, device="cpu")
    assert calls == [1, 1]


LOADS_FROM_DISK = r"""
import sys
from gpuinit.kernels import cpu
from gpuinit import random
calls = []
real = cpu.serial_fill
cpu.serial_fill = lambda *args: (calls.append(1), real(*args))
random.uniform(cpu.PARALLEL_MIN_VALUES * 2, seed=1, device="cpu")
print(len(calls), len(cpu._LOOPS[(0, 0)].signatures))
"""


def test_mid_size_outputs_load_the_parallel_loop_from_the_disk_cache(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_ENABLE_CUDASIM", None)

    def run():
        done = subprocess.run([sys.executable, "-c", LOADS_FROM_DISK], env=env, text=True,
                              capture_output=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        return tuple(int(v) for v in done.stdout.split())

    assert run() == (1, 0)  # an empty cache: the one-core loop, nothing compiled
    compile_normal = ("from gpuinit import random; from gpuinit.kernels import cpu; "
                      "random.uniform(cpu.SERIAL_MAX_VALUES + 1, seed=1, device='cpu')")
    subprocess.run([sys.executable, "-c", compile_normal], env=env, check=True, timeout=600)
    assert run() == (0, 1)  # the parallel loop, loaded from the cache
