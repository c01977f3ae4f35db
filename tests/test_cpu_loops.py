"""The CPU fills: NumPy arithmetic (no compiling) and the one-core loop (compiled in
seconds, one for every law) that small outputs take, and the parallel vectorized
loops of larger ones, must give the same bits for every request."""

import numpy as np
import pytest

from gpuinit import random as gi_random
from gpuinit.kernels import cpu

from .helpers import DISTRIBUTIONS, DTYPES, bits


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_the_cpu_fills_give_the_same_bits(dist, dtype, monkeypatch):
    sample = DISTRIBUTIONS[dist]
    requests = [dict(shape=(3, 2999)), dict(shape=(517,), offset=3),
                dict(shape=(5, 1201), full_shape=(9, 3001), start=(2, 7)),
                dict(shape=(4, 3, 5), full_shape=(6, 7, 5), start=(1, 2, 0))]
    for request in requests:
        results = []
        monkeypatch.setattr(cpu, "NUMPY_BUDGET_VALUES", 1 << 62)
        monkeypatch.setattr(cpu, "_SERIAL_READY", set())
        for limit, numpy_limit in ((1 << 62, 1 << 62), (1 << 62, -1), (-1, -1)):
            monkeypatch.setattr(cpu, "SERIAL_MAX_VALUES", limit)
            monkeypatch.setattr(cpu, "PARALLEL_MIN_VALUES", limit)
            monkeypatch.setattr(cpu, "NUMPY_MAX_VALUES", numpy_limit)
            results.append(sample(**request, seed=31, stream=2, dtype=dtype, device="cpu"))
        np.testing.assert_array_equal(bits(results[0]), bits(results[1]))
        np.testing.assert_array_equal(bits(results[0]), bits(results[2]))


def test_mid_size_outputs_take_the_parallel_loop_once_it_is_compiled(monkeypatch):
    calls = []
    real = cpu.serial_fill
    monkeypatch.setattr(cpu, "serial_fill", lambda *args: (calls.append(1), real(*args)))
    fresh = cpu._make_loop(0, 0)  # not compiled, and kept from the on-disk cache:
    monkeypatch.setitem(cpu._LOOPS, (0, 0), fresh)
    monkeypatch.setattr(cpu, "_load_cached", lambda loop, args: bool(loop.signatures))
    monkeypatch.setattr(cpu, "NUMPY_MAX_VALUES", -1)
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
cpu.NUMPY_MAX_VALUES = -1
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


def test_numpy_serves_first_calls_until_its_budget(monkeypatch):
    from gpuinit import random
    from gpuinit.kernels import numpy_fill

    used = []
    real_numpy, real_serial = numpy_fill.fill, cpu.serial_fill
    monkeypatch.setattr(numpy_fill, "fill", lambda *a: (used.append("numpy"), real_numpy(*a))[1])
    monkeypatch.setattr(cpu, "serial_fill", lambda *a: (used.append("serial"), real_serial(*a)))
    monkeypatch.setattr(cpu, "NUMPY_BUDGET_VALUES", 3000)
    monkeypatch.setattr(cpu, "_NUMPY_FILLED", [0])
    monkeypatch.setattr(cpu, "_SERIAL_READY", set())
    made = [random.normal(1000, seed=s, device="cpu") for s in range(4)]
    assert used == ["numpy"] * 3 + ["serial"]  # the fourth would pass the budget
    random.normal(10, seed=9, device="cpu")
    assert used[-1] == "serial"  # the compiled loop is ready: it keeps the work
    monkeypatch.setattr(cpu, "_NUMPY_FILLED", [0])
    random.normal(10, seed=9, dtype="float64", device="cpu")  # float64: compiled only
    random.truncated_normal(10, lower=3.0, upper=9.0, seed=9, dtype="float16", device="cpu")
    assert "numpy" not in used[5:]
    monkeypatch.setattr(cpu, "_SERIAL_READY", set())
    again = random.normal(1000, seed=3, device="cpu")
    assert used[-1] == "numpy" and (bits(again) == bits(made[3])).all()


def test_numpy_fill_leaves_the_inverse_cdf_to_the_loops_and_writes_nothing(monkeypatch):
    from gpuinit import launch
    from gpuinit.kernels import numpy_fill

    captured = {}
    real = launch.fill
    monkeypatch.setattr(launch, "fill", lambda out, form, dev, n_items, args, **kw: (
        captured.update(n_items=n_items, args=args), real(out, form, dev, n_items, args, **kw)))
    from gpuinit import random

    expected = random.truncated_normal(4000, lower=-1.0, upper=1.0, seed=2, device="cpu")
    monkeypatch.setattr(numpy_fill, "TRUNC_ATTEMPTS", 1)  # every rejected value is left
    out = np.full(4000, np.nan, np.float32)
    assert not numpy_fill.fill(out, captured["n_items"], *captured["args"])
    assert np.isnan(out).all()
    monkeypatch.setattr(numpy_fill, "TRUNC_ATTEMPTS", 16)
    assert numpy_fill.fill(out, captured["n_items"], *captured["args"])
    np.testing.assert_array_equal(bits(out), bits(expected))


FIRST_CALL = r"""
from gpuinit.kernels import cpu
from gpuinit import random
random.normal((1000, 1000), seed=0, device="cpu")
random.truncated_normal((64, 512), seed=0, dtype="bfloat16", device="cpu")
print(len(cpu.serial_fill.signatures), sum(len(v.signatures) for v in cpu._LOOPS.values()))
"""


def test_first_small_calls_of_a_process_compile_nothing(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    done = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "0"]
    assert not list(tmp_path.rglob("*.nbi"))  # and wrote nothing to the cache


@pytest.mark.parametrize("draw", [
    lambda **kw: gi_random.uniform(64, -0.0, -0.0, **kw),
    lambda **kw: gi_random.uniform(64, -0.0, 1.0, **kw),
    lambda **kw: gi_random.truncated_normal(1000, -0.0, 0.0, **kw),
    lambda **kw: gi_random.normal(1000, -0.0, 0.0, **kw),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_signed_zero_bounds_give_the_same_bits_on_every_cpu_fill(draw, dtype, monkeypatch):
    results = []
    monkeypatch.setattr(cpu, "NUMPY_BUDGET_VALUES", 1 << 62)
    monkeypatch.setattr(cpu, "_SERIAL_READY", set())
    for numpy_limit in (1 << 62, -1):
        monkeypatch.setattr(cpu, "NUMPY_MAX_VALUES", numpy_limit)
        results.append(draw(seed=1, dtype=dtype, device="cpu"))
    np.testing.assert_array_equal(bits(results[0]), bits(results[1]))
