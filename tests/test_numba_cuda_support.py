"""numba-cuda's compiler loads beside every NumPy gpuinit supports, NumPy left as found.

NumPy 2.5 removed ``np.row_stack``, which numba-cuda (through 0.30.4) overloads when its
array typing first loads; without gpuinit's loader every CUDA compile failed there while
``import numba.cuda`` succeeded.  Runs in subprocesses: the suite's own process may use
the simulator.
"""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba_cuda", reason="numba-cuda (the cuda extras) is not installed")

_LOAD = """
import json, numpy
had = "row_stack" in numpy.__dict__
from gpuinit.kernels import cuda, fill
ptx = cuda.compile_ptx(fill.DIST_UNIFORM, fill.FMT_FLOAT32, (9, 0))  # loads what it needs
from gpuinit.kernels.numba_cuda_support import compiler_problem
problem = compiler_problem()
print(json.dumps({"had": had, "has": "row_stack" in numpy.__dict__, "problem": problem,
                  "entry": "fill_kernel_" in ptx}))
"""

_BROKEN = """
import json, sys
sys.modules["numba.cuda.np.arrayobj"] = None  # a numba-cuda that cannot load its typing
from gpuinit.kernels.numba_cuda_support import compiler_problem
print(json.dumps({"problem": compiler_problem()}))
"""


def _run(script: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_kernels_compile_and_numpy_is_left_as_found():
    found = _run(_LOAD)
    assert found["problem"] is None
    assert found["entry"]
    assert found["has"] == found["had"]


def test_a_compiler_that_cannot_load_is_a_reason_not_a_crash():
    problem = _run(_BROKEN)["problem"]
    assert problem.startswith("numba-cuda ") and "cannot compile kernels with NumPy" in problem
