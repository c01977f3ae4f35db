"""Philox4x32-10 against the Random123 known-answer vectors, on every target."""

from pathlib import Path

import numpy as np
import pytest
from numba import cuda  # the simulator swaps this module global inside kernels

import gpuinit as gi
from gpuinit.kernels import cpu
from gpuinit.kernels import cuda as cuda_kernels

KAT_FILE = Path(__file__).parent / "data" / "philox_kat.txt"


def _vectors():
    rows = []
    for line in KAT_FILE.read_text().splitlines():
        if not line.startswith("philox4x32 10"):
            continue
        words = [int(w, 16) for w in line.split()[2:]]
        rows.append((words[:4], words[4:6], words[6:10]))
    return rows


VECTORS = _vectors()


def test_kat_file_has_the_three_random123_vectors():
    assert len(VECTORS) == 3


@pytest.mark.parametrize("counter,key,expected", VECTORS)
def test_host_function_matches_kat(counter, key, expected):
    assert gi.random.philox4x32(counter, key).tolist() == expected


def test_host_function_broadcasts_batches():
    counters = np.array([v[0] for v in VECTORS], dtype=np.uint32)
    keys = np.array([v[1] for v in VECTORS], dtype=np.uint32)
    expected = [v[2] for v in VECTORS]
    assert gi.random.philox4x32(counters, keys).tolist() == expected


def test_cpu_twin_matches_kat():
    counters = np.array([v[0] for v in VECTORS], dtype=np.uint32)
    keys = np.array([v[1] for v in VECTORS], dtype=np.uint32)
    out = np.zeros((3, 4), dtype=np.uint32)
    cpu.philox4x32(counters, keys, out)
    assert out.tolist() == [v[2] for v in VECTORS]


@pytest.mark.cuda_kernels
def test_cuda_twin_matches_kat():
    philox = cuda_kernels.LIB.philox4x32_10

    @cuda.jit
    def kat_kernel(counters, keys, out):
        i = cuda.grid(1)
        if i < counters.shape[0]:
            x0, x1, x2, x3 = philox(
                counters[i, 0], counters[i, 1], counters[i, 2], counters[i, 3],
                keys[i, 0], keys[i, 1],
            )
            out[i, 0] = x0
            out[i, 1] = x1
            out[i, 2] = x2
            out[i, 3] = x3

    counters = np.array([v[0] for v in VECTORS], dtype=np.uint32)
    keys = np.array([v[1] for v in VECTORS], dtype=np.uint32)
    out = np.zeros((3, 4), dtype=np.uint32)
    kat_kernel[1, 32](counters, keys, out)
    assert out.tolist() == [v[2] for v in VECTORS]


@pytest.mark.parametrize("bad", [[1, 2, 3], [[1, 2, 3, 4, 5]], [-1, 0, 0, 0], [2**32, 0, 0, 0]])
def test_bad_counter_is_refused(bad):
    with pytest.raises(ValueError, match="counter"):
        gi.random.philox4x32(bad, [0, 0])
