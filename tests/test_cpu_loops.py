"""The CPU fills: the NumPy target (the scalar source over arrays, nothing to compile)
and the compiled loop of each output format (one for every law, run on several
threads) must give the same bits for every request, and a process must never wait
for a compile it can avoid."""

import dataclasses
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from gpuinit import random as gi_random
from gpuinit.kernels import arrays, cpu, preparation, route, threads
from gpuinit.kernels.fill import (
    DIST_NORMAL,
    DIST_TRUNCATED_NORMAL,
    DISTRIBUTION_NAMES,
    FMT_BFLOAT16,
    FMT_FLOAT16,
    FMT_FLOAT32,
    FMT_FLOAT64,
)

from .helpers import DISTRIBUTIONS, DTYPES, bits

REQUESTS = [dict(shape=(3, 2999)), dict(shape=(517,), offset=3),
            dict(shape=(5, 1201), full_shape=(9, 3001), start=(2, 7)),
            dict(shape=(4, 3, 5), full_shape=(6, 7, 5), start=(1, 2, 0))]


def _routes(monkeypatch, make):
    """Return make() computed by the NumPy target, by the compiled loop on one thread and
    by the compiled loop split over three threads."""
    results = []
    for mode, per_chunk, n_threads in (("numpy", 1 << 62, 1), ("wait", 1 << 62, 1),
                                        ("wait", 1, 3)):
        monkeypatch.setenv("GPUINIT_CPU_LOOPS", mode)
        monkeypatch.setenv("NUMBA_NUM_THREADS", str(n_threads))
        monkeypatch.setattr(cpu, "MIN_ITEMS_PER_THREAD", per_chunk)
        results.append(make())
    return results


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_the_cpu_routes_give_the_same_bits(dist, dtype, monkeypatch):
    sample = DISTRIBUTIONS[dist]
    for request in REQUESTS:
        results = _routes(monkeypatch, lambda request=request: sample(
            **request, seed=31, stream=2, dtype=dtype, device="cpu"))
        for other in results[1:]:
            np.testing.assert_array_equal(bits(results[0]), bits(other))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16", "float64"])
@pytest.mark.parametrize("lower, upper", [(2.0, 3.0), (-0.34, 0.34), (-0.3, 0.3)])
def test_the_inverse_cdf_and_exhausted_rejection_agree_on_every_route(lower, upper, dtype,
                                                                      monkeypatch):
    # (2, 3) and (-0.3, 0.3) are sampled by the inverse CDF alone; (-0.34, 0.34) by
    # rejection, and about 0.7% of its values exhaust the attempts.
    results = _routes(monkeypatch, lambda: gi_random.truncated_normal(
        (7, 3001), 0.0, 1.0, lower, upper, seed=5, dtype=dtype, device="cpu"))
    for other in results[1:]:
        np.testing.assert_array_equal(bits(results[0]), bits(other))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lower, upper", [(-10.0, 10.0), (-np.inf, np.inf), (-9.0, np.inf),
                                          (-100.0, 8.6)])
def test_a_truncation_that_holds_every_deviate_gives_the_rejection_kernels_bits(
        lower, upper, dtype, monkeypatch):
    # Such a truncation runs the normal kernel with its bounds as the clamp; the
    # truncated normal's kernel, run on the same request, must give the same bits.
    std = 0.02
    launch = gi_random.prepare(gi_random.truncated_normal, (5, 1201), 0.1, std, lower, upper,
                               seed=3, stream=4, full_shape=(9, 3001), start=(2, 7),
                               dtype=dtype, device="cpu")
    assert launch.dist == DIST_NORMAL
    form = launch.form
    p_lower, q_upper, mass = gi_random.check_truncation(lower, upper)
    law = gi_random._kernel_law((0.1, std, lower, upper, True, p_lower, q_upper, mass), form)
    rejecting = dataclasses.replace(launch, dist=DIST_TRUNCATED_NORMAL, law=law)
    for ours, theirs in zip(_routes(monkeypatch, launch.run), _routes(monkeypatch, rejecting.run),
                            strict=True):
        np.testing.assert_array_equal(bits(ours), bits(theirs))
    # Bounds the deviates can reach keep the rejection kernel.
    assert gi_random.prepare(gi_random.truncated_normal, 4, 0.0, 1.0, -5.0, 10.0,
                             dtype=dtype, device="cpu").dist == DIST_TRUNCATED_NORMAL


def _request(n: int, base: int = 0, per_block: int = 4):
    rows = ((n + per_block - 1 + base) // per_block + 1, n, base, (1,), (n,))
    law = (np.float32(0.5), np.float32(0.02), np.float32(-2.0), np.float32(2.0), True,
           0.02275, 0.02275, 0.9545)
    return (12345, 678, 9, 10), rows, law


FORMATS = [
    pytest.param(FMT_FLOAT32, np.float32, (np.float32(-3e38), np.float32(3e38)),
                 id="float32"),
    pytest.param(FMT_BFLOAT16, np.uint16, (np.float32(-3.3895314e38), np.float32(3.3895314e38)),
                 id="bfloat16"),
    pytest.param(FMT_FLOAT16, np.uint16, (np.float32(-65504.0), np.float32(65504.0)),
                 id="float16"),
    pytest.param(FMT_FLOAT64, np.float64, (-1.7e308, 1.7e308), id="float64"),
]


@pytest.mark.parametrize("fmt, storage, clamp", FORMATS)
@pytest.mark.parametrize("dist", list(DISTRIBUTION_NAMES), ids=DISTRIBUTION_NAMES.values())
def test_the_loop_takes_over_a_request_anywhere_with_the_same_bits(dist, fmt, storage, clamp):
    route.compiled_loop(fmt).prepare()
    for base in (0, 3):
        key, rows, law = _request(9001, base, 2 if fmt == FMT_FLOAT64 else 4)
        args = cpu.loop_arguments(key, rows, law, clamp)
        want = np.empty(9001, storage)
        arrays.fill(want, dist, fmt, key, rows, law, clamp)
        for stop in (1, 2, 5, 4097, 9000):
            got = np.full(9001, 7, storage)
            stopped = arrays.fill(got, dist, fmt, key, rows, law, clamp, stop=stop)
            o, item = route.switch_item(stopped, fmt, rows)
            assert stopped <= o <= stopped + 3
            arrays.fill(got, dist, fmt, key, rows, law, clamp, start=stopped, stop=o)
            cpu.run_loop(route.compiled_loop(fmt).dispatcher, got, item, rows[0], 2, dist, args)
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fmt, storage, clamp", FORMATS)
@pytest.mark.parametrize("dist", list(DISTRIBUTION_NAMES), ids=DISTRIBUTION_NAMES.values())
def test_blocks_on_both_sides_of_a_multiple_of_2_32_keep_their_counters(dist, fmt, storage,
                                                                        clamp):
    # Counter word 1 holds the block index from bit 32 up; the loop walks a batch of
    # blocks with that word fixed, so a batch that crosses block 2^32 (here its second
    # batch, on one thread) is written in two parts.
    route.compiled_loop(fmt).prepare()
    per_block = 2 if fmt == FMT_FLOAT64 else 4
    n, base = 5001, per_block * ((1 << 32) - 600) + 1
    key, _, law = _request(n, per_block=per_block)
    rows = ((base % per_block + n + per_block - 1) // per_block, n, base, (1,), (n,))
    args = cpu.loop_arguments(key, rows, law, clamp)
    want = np.empty(n, storage)
    arrays.fill(want, dist, fmt, key, rows, law, clamp)
    got = np.full(n, 7, storage)
    cpu.run_loop(route.compiled_loop(fmt).dispatcher, got, 0, rows[0], 1, dist, args)
    np.testing.assert_array_equal(got, want)


def test_the_numpy_target_hands_over_between_chunks(monkeypatch):
    key, rows, law = _request(10_000)
    clamp = (np.float32(-3e38), np.float32(3e38))
    monkeypatch.setattr(arrays, "CHUNK", 1000)
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) == 3

    out = np.zeros(10_000, np.float32)
    assert arrays.fill(out, DIST_NORMAL, FMT_FLOAT32, key, rows, law, clamp,
                       should_stop=should_stop) == 3000
    assert (out[:3000] != 0).all() and (out[3000:] == 0).all()


@pytest.mark.parametrize("draw", [
    lambda **kw: gi_random.uniform(64, -0.0, -0.0, **kw),
    lambda **kw: gi_random.uniform(64, -0.0, 1.0, **kw),
    lambda **kw: gi_random.truncated_normal(1000, -0.0, 0.0, **kw),
    lambda **kw: gi_random.normal(1000, -0.0, 0.0, **kw),
])
@pytest.mark.parametrize("dtype", DTYPES)
def test_signed_zero_bounds_give_the_same_bits_on_every_cpu_route(draw, dtype, monkeypatch):
    results = _routes(monkeypatch, lambda: draw(seed=1, dtype=dtype, device="cpu"))
    for other in results[1:]:
        np.testing.assert_array_equal(bits(results[0]), bits(other))


@pytest.mark.parametrize("fmt, value", [(FMT_FLOAT16, -1e-8), (FMT_BFLOAT16, -1e-41)],
                         ids=["float16", "bfloat16"])
def test_16_bit_values_are_clamped_before_they_are_rounded(fmt, value):
    # A value below a +0 bound that rounds to -0 is clamped to +0 first: the output is
    # +0 on every route, as for float32 outputs, where -0 is never below +0 either.
    import ml_dtypes

    rounded = np.array([value], np.float32).astype(
        np.float16 if fmt == FMT_FLOAT16 else ml_dtypes.bfloat16).view(np.uint16)
    assert rounded[0] == 0x8000
    key, rows, _ = _request(1001)
    law = (np.float32(value), np.float32(0.0), np.float32(0.0), np.float32(0.0), True,
           0.0, 0.0, 0.0)  # uniform: value + 0·u
    clamp = (np.float32(0.0), np.float32(1.0))
    numpy_target = np.full(1001, 7, np.uint16)
    arrays.fill(numpy_target, 0, fmt, key, rows, law, clamp)
    loop = np.full(1001, 7, np.uint16)
    cpu.run_loop(route.compiled_loop(fmt).dispatcher, loop, 0, rows[0], 2, 0,
                 cpu.loop_arguments(key, rows, law, clamp))
    assert (numpy_target == 0).all() and (loop == 0).all()


def test_an_unknown_loop_mode_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("GPUINIT_CPU_LOOPS", "sometimes")
    with pytest.raises(ValueError, match="GPUINIT_CPU_LOOPS"):
        gi_random.normal(10, seed=0, device="cpu")


def _env(cache) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    for name in ("NUMBA_ENABLE_CUDASIM", "GPUINIT_CPU_LOOPS"):
        env.pop(name, None)
    return env


FIRST_CALLS = r"""
import sys
from gpuinit.kernels import arrays, route
from gpuinit import random
served = []
real = arrays.fill
arrays.fill = lambda *a, **k: (served.append(1), real(*a, **k))[1]
random.normal((1000, 1000), seed=0, device="cpu")
random.truncated_normal((64, 512), seed=0, dtype="bfloat16", device="cpu")
random.normal((100, 300), seed=0, dtype="float64", device="cpu")
small = route.compiled_loop(0)._thread is None  # a short script prepares no loop
random.normal((2048, 2048), seed=0, device="cpu")  # past PREPARE_AFTER_VALUES
print(len(served), small, route.compiled_loop(0)._thread is not None, "numba" in sys.modules)
"""


def test_the_first_calls_of_a_process_wait_for_no_compile(tmp_path):
    done = subprocess.run([sys.executable, "-c", FIRST_CALLS], env=_env(tmp_path), text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    # All made by the NumPy target, float64 included.  The float32 loop is prepared in
    # the background once the process has asked for 2^22 float32 values (compiled by
    # another process, with an empty cache): this one has not even imported Numba.
    assert done.stdout.split() == ["4", "True", "True", "False"]


def test_many_small_requests_prepare_the_loop_once_they_have_taken_long_enough(monkeypatch):
    # Few values, but the NumPy target's fixed cost per request adds up: the format's
    # loop is prepared once the NumPy target has spent PREPARE_AFTER_SECONDS on it.
    monkeypatch.setenv("GPUINIT_CPU_LOOPS", "background")
    for table in ("_LOOPS", "_NUMPY_VALUES", "_NUMPY_SECONDS"):
        monkeypatch.setattr(route, table, {})
    monkeypatch.setattr(route, "PREPARE_AFTER_SECONDS", 0.02)
    started = []
    monkeypatch.setattr(preparation.PreparedLoop, "start",
                        lambda loop: started.append(loop.name))
    for calls in range(1, 10_001):
        gi_random.normal(16, seed=calls, device="cpu")
        if started:
            break
    assert started == ["fill_loop_float32"] and calls > 1
    assert route._NUMPY_SECONDS[FMT_FLOAT32] >= route.PREPARE_AFTER_SECONDS
    assert route._NUMPY_VALUES[FMT_FLOAT32] < route.PREPARE_AFTER_VALUES


LOADS = r"""
import numba.core.event as event
from gpuinit.kernels import route
with event.install_recorder("numba:compile") as recorder:
    route.compiled_loop(0).prepare()
print(len(recorder.buffer))
"""


@pytest.mark.slow
def test_a_loop_prepared_in_a_child_process_is_loaded_from_the_disk_cache(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert preparation.prepare_in_child(route.compiled_loop(FMT_FLOAT32).child_code)
    assert list(tmp_path.rglob("*.nbi"))
    # The child left the marker by which later processes load the loop directly.
    assert route.compiled_loop(FMT_FLOAT32)._marker().exists()
    done = subprocess.run([sys.executable, "-c", LOADS], env=_env(tmp_path), text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0"]  # nothing compiled: loaded from the cache


def test_the_thread_count_follows_numba_num_threads(monkeypatch):
    monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    assert route.default_threads() == 3
    monkeypatch.delenv("NUMBA_NUM_THREADS")
    assert route.default_threads() >= 1


@pytest.mark.parametrize("dist", list(DISTRIBUTION_NAMES), ids=DISTRIBUTION_NAMES.values())
def test_a_loop_takes_only_the_chunks_left_and_says_whether_every_one_is_written(dist):
    clamp = (np.float32(-3e38), np.float32(3e38))
    key, rows, law = _request(9001)
    args = cpu.loop_arguments(key, rows, law, clamp)
    loop = route.compiled_loop(FMT_FLOAT32).dispatcher
    n_items = rows[0]
    want = np.empty(9001, np.float32)
    arrays.fill(want, dist, FMT_FLOAT32, key, rows, law, clamp)
    # Another thread has taken items 0..299 and written them.
    got = np.full(9001, 7, np.float32)
    progress = np.array([300, 300], np.int64)
    assert loop(got, 0, n_items, 100, progress, 0, dist, *args)
    assert (got[:1200] == 7).all()
    np.testing.assert_array_equal(got[1200:], want[1200:])
    assert progress[0] >= n_items and progress[1] == n_items
    # Its last chunk, 200..299, is not written yet: asked 1,000 times, the loop says so.
    progress = np.array([300, 200], np.int64)
    assert not loop(got, 0, n_items, 100, progress, 1000, dist, *args)
    assert progress[1] == n_items - 100


def test_a_request_whose_calling_thread_is_late_is_written_by_the_pool():
    clamp = (np.float32(-3e38), np.float32(3e38))
    key, rows, law = _request(200_001)
    args = cpu.loop_arguments(key, rows, law, clamp)
    loop = route.compiled_loop(FMT_FLOAT32).dispatcher
    want = np.empty(200_001, np.float32)
    arrays.fill(want, DIST_NORMAL, FMT_FLOAT32, key, rows, law, clamp)
    got = np.full(200_001, 7, np.float32)
    calls = []
    caller = threading.current_thread()

    class LateCaller:
        # The calling thread begins after the pool thread has taken every chunk.
        def __call__(self, out, first, stop, chunk, progress, spins, *rest):
            if threading.current_thread() is caller:
                while progress[0] < stop:
                    time.sleep(0.001)
            calls.append(threading.current_thread() is caller)
            return loop(out, first, stop, chunk, progress, spins, *rest)

    cpu.run_loop(LateCaller(), got, 0, rows[0], 2, DIST_NORMAL, args)
    np.testing.assert_array_equal(got, want)
    assert sorted(calls) == [False, True]


def test_an_error_of_the_calling_thread_stops_the_taking_and_waits_for_the_pools_calls():
    stopped, pool_calls = [], []
    pool_began = threading.Event()

    def work(caller):
        if caller:
            pool_began.wait(10)
            raise RuntimeError("caller")
        pool_began.set()
        time.sleep(0.05)  # in its chunk when the caller fails
        pool_calls.append(bool(stopped))
        return False

    with pytest.raises(RuntimeError, match="caller"):
        threads.run_shared(work, 2, lambda: stopped.append(True))
    # Taking was stopped before the pool's call returned, and that call had returned.
    assert stopped == [True] and pool_calls == [True]


def test_an_error_of_the_pool_reaches_the_caller_while_a_chunk_is_unwritten():
    pool_began = threading.Event()

    def work(caller):
        if not caller:
            pool_began.set()
            raise RuntimeError("pool")
        pool_began.wait(10)
        return False  # the pool's chunk is not written

    with pytest.raises(RuntimeError, match="pool"):
        threads.run_shared(work, 2, lambda: None)


def test_an_error_of_a_pool_call_that_wrote_nothing_does_not_fail_a_written_request():
    # Three threads: one pool call fails before taking a chunk, the other has taken the
    # last one when the caller runs out of chunks, and writes it after the caller's first
    # ask.
    lock, taken, written, failed = threading.Lock(), threading.Event(), threading.Event(), []

    def work(caller):
        if caller:
            taken.wait(10)
            return written.is_set()
        with lock:
            fail = not failed
            failed.append(fail)
        if fail:
            raise MemoryError("before taking a chunk")
        taken.set()
        time.sleep(0.05)
        written.set()
        return True

    threads.run_shared(work, 3, lambda: None)
    assert written.is_set() and failed.count(True) == 1


def test_a_request_does_not_wait_for_another_requests_work(monkeypatch):
    # One pool thread, busy with request A: request B's queued share is cancelled once
    # B's own thread has written every chunk, and B returns while A still runs.
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(threads, "_POOL", [ThreadPoolExecutor(max_workers=1)])
    release = threading.Event()
    a_running = threading.Semaphore(0)

    def a_work(caller):
        a_running.release()
        release.wait(10)
        return True

    a = threading.Thread(target=threads.run_shared, args=(a_work, 2, lambda: None))
    a.start()
    a_running.acquire()
    a_running.acquire()  # A holds its own thread and the pool's
    b_calls = []

    def b_work(caller):
        b_calls.append(caller)
        return True

    b = threading.Thread(target=threads.run_shared, args=(b_work, 2, lambda: None))
    b.start()
    b.join(10)
    b_returned = not b.is_alive()
    release.set()
    a.join(10)
    assert b_returned and b_calls == [True] and not a.is_alive()
