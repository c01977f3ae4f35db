"""The CUDA kernel against its CPU twin, element for element.

Without a GPU the CUDA kernel runs in Numba's CUDA simulator (set up by
conftest.py); with one it runs on the device.  Uniform and normal outputs must
agree bit for bit (Box-Muller uses our own fma polynomials, not libm); truncated
normal outputs within 2 float32 ulp (its inverse CDF uses libm vs CUDA math's erfc
and exp).  The launch configuration must not matter.
"""

import numpy as np
import pytest
from numba import cuda

from gpuinit import launch
from gpuinit.kernels import cuda as cuda_kernels

from .helpers import DISTRIBUTIONS, DTYPES, bits, ulp_distance

pytestmark = pytest.mark.cuda_kernels

LAYOUTS = {
    "flat": dict(shape=(37,)),
    "offset": dict(shape=(29,), offset=6),
    "block": dict(shape=(3, 5, 7), full_shape=(5, 9, 7), start=(1, 2, 0)),
    "strided_rows": dict(shape=(4, 3), full_shape=(6, 7), start=(2, 3)),
}
CONFIGS = [(1, 32), (3, 64)]


def _cpu_result_and_args(dist, dtype, layout, monkeypatch):
    captured = {}
    real_fill = launch.fill

    def spy(out, form, dev, n_items, args, **kwargs):
        captured.update(form=form, n_items=n_items, args=args)
        real_fill(out, form, dev, n_items, args, **kwargs)

    monkeypatch.setattr(launch, "fill", spy)
    result = DISTRIBUTIONS[dist](seed=1234, stream=7, dtype=dtype, device="cpu", **LAYOUTS[layout])
    monkeypatch.setattr(launch, "fill", real_fill)
    return result, captured


def _cuda_result(like, captured, config):
    flat = np.zeros(like.size, dtype=captured["form"].storage_dtype)
    if cuda_kernels.SIMULATED:
        target = flat
    else:
        target = cuda.to_device(flat)
    launch.launch_kernel(target, captured["n_items"], captured["args"], config, 0)
    host = target if cuda_kernels.SIMULATED else target.copy_to_host()
    return host.view(like.dtype).reshape(like.shape)


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_cuda_kernel_matches_cpu_twin(dist, dtype, layout, monkeypatch):
    expected, captured = _cpu_result_and_args(dist, dtype, layout, monkeypatch)
    for config in CONFIGS:
        got = _cuda_result(expected, captured, config)
        if dist in ("uniform", "normal", "laplace"):
            # Box-Muller and Laplace (24- and 53-bit) use our own fma polynomials: the same
            # bits everywhere.  The truncated normal's inverse CDF uses erfc and exp.
            np.testing.assert_array_equal(bits(got), bits(expected))
        else:
            assert ulp_distance(got, expected, "float32").max() <= 2.0
            if dtype in ("float16", "bfloat16"):
                # Two float32 ulp can move a 16-bit rounding by at most one step.
                assert ulp_distance(got, expected, dtype).max() <= 1.0


def test_each_launch_configuration_gives_the_same_bits(monkeypatch):
    expected, captured = _cpu_result_and_args("truncated_normal", "float32", "flat", monkeypatch)
    results = [_cuda_result(expected, captured, config) for config in [(1, 1), (2, 3), (5, 32)]]
    for other in results[1:]:
        np.testing.assert_array_equal(bits(other), bits(results[0]))
