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
# CPU fills default to the NumPy target (the compiled loops give the same bits): the
# many short processes the tests start would otherwise each start a background compile
# of the loops into their own empty caches.  The cpu_loop fixture and the tests of the
# routes choose their route themselves.
os.environ.setdefault("GPUINIT_CPU_LOOPS", "numpy")

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


@pytest.fixture(params=["numpy", "loop", "threads"])
def cpu_loop(request, monkeypatch):
    """Run a test three times: every CPU fill by the NumPy target, by the compiled loop
    on one thread, and by the compiled loop split over every thread even for small
    requests."""
    from gpuinit.kernels import cpu

    monkeypatch.setenv("GPUINIT_CPU_LOOPS", "numpy" if request.param == "numpy" else "wait")
    monkeypatch.setattr(cpu, "MIN_ITEMS_PER_THREAD",
                        1 if request.param == "threads" else 1 << 62)
    if request.param == "threads":
        monkeypatch.setenv("NUMBA_NUM_THREADS", "3")
    return request.param
