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
            results.append(sample(**request, seed=31, stream=2, dtype=dtype, device="cpu"))
        np.testing.assert_array_equal(bits(results[0]), bits(results[1]))
