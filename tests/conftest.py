"""Test configuration.

Without a real GPU the suite runs the CUDA kernels in Numba's CUDA simulator:
NUMBA_ENABLE_CUDASIM must be set before Numba is first imported, so it is set
here, at collection start, unless a CUDA device answers through CuPy.  Tests
marked ``cuda`` need a real GPU and are skipped with the reason otherwise.
"""

import os


def _real_gpu_reason():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
        return "CuPy sees no CUDA device"
    except Exception as exc:  # no CuPy, no driver
        return f"no usable CUDA GPU ({type(exc).__name__}: {exc})"


# Keras parity tests run Keras 3 on its torch backend (the one installed with the tests).
os.environ.setdefault("KERAS_BACKEND", "torch")
# JAX's GPU client takes 75% of the device's memory at its first use; torch, CuPy and the
# out-of-memory tests share this process with it.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

NO_GPU_REASON = _real_gpu_reason()
if NO_GPU_REASON is not None:
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import pytest  # noqa: E402


def pytest_sessionstart(session):
    # A GPU run must not report success by skipping every GPU test.
    if os.environ.get("GPUINIT_REQUIRE_GPU") == "1" and NO_GPU_REASON is not None:
        pytest.exit(f"GPUINIT_REQUIRE_GPU=1, but {NO_GPU_REASON}", returncode=3)


def pytest_collection_modifyitems(config, items):
    if NO_GPU_REASON is None:
        return
    skip = pytest.mark.skip(reason=NO_GPU_REASON)
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["numpy", "serial", "parallel"])
def cpu_loop(request, monkeypatch):
    """Run a test three times: every CPU fill by NumPy arithmetic where it can (the
    rest on the one-core loop), on the one-core loop, and on the parallel loops
    (small outputs normally take the first)."""
    from gpuinit.kernels import cpu

    small = request.param != "parallel"
    numpy = request.param == "numpy"
    monkeypatch.setattr(cpu, "SERIAL_MAX_VALUES", 1 << 62 if small else -1)
    monkeypatch.setattr(cpu, "PARALLEL_MIN_VALUES", 1 << 62 if small else -1)
    monkeypatch.setattr(cpu, "NUMPY_MAX_VALUES", 1 << 62 if numpy else -1)
    monkeypatch.setattr(cpu, "NUMPY_BUDGET_VALUES", 1 << 62)
    monkeypatch.setattr(cpu, "_SERIAL_READY", set())
    return request.param
