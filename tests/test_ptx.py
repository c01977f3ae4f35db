"""Every CUDA kernel compiles to PTX, with no GPU and no driver (NVVM from pip).

The simulator runs kernels as Python and cannot catch typing or lowering errors;
compiling for real does.  The PTX also shows the hot loop: Philox's 32x32->64
multiplies become ``mul.wide.u32`` / ``mul.hi.u32`` and nothing spills to local
memory beyond, at most, a small libdevice depot (28 or 40 bytes, the size of
libdevice's trigonometric argument reduction, a cold path).  Runs in a
subprocess because the suite's process may use the simulator.
"""

import json
import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import json, re, sys
from numba import cuda, types
from gpuinit.kernels import cuda as cuda_kernels

i64, f64 = types.int64, types.float64
tup = types.UniTuple(i64, int(sys.argv[1]))
report = {}
cases = {"float32": (types.float32, (9, 0)), "bits16": (types.uint16, (9, 0)),
         "float64": (types.float64, (8, 0))}
for name in sys.argv[2:]:
    dtype, cc = cases[name]
    sig = (dtype[::1], i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, tup, tup,
           f64, f64, f64, f64, types.boolean, f64, f64, f64, f64, f64, i64, i64)
    ptx, _ = cuda.compile_ptx(cuda_kernels.fill_kernel.py_func, sig, cc=cc)
    depots = re.findall(r"\.local \.align \d+ \.b8 \s*__local_depot\d+\[(\d+)\]", ptx)
    report[f"{name}-sm{cc[0]}{cc[1]}"] = {
        "target": f".target sm_{cc[0]}{cc[1]}" in ptx,
        "mul_wide": ptx.count("mul.wide.u32") + ptx.count("mul.hi.u32"),
        "local_depots": sorted(int(d) for d in depots),
    }
print(json.dumps(report))
"""


@pytest.mark.slow
@pytest.mark.parametrize("lead_dims", [1])
def test_fill_kernel_compiles_to_ptx_for_every_output_type(lead_dims):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    # One process per output type, all at once: each compile takes a minute of one core.
    runs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(lead_dims), name],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for name in ("float32", "bits16", "float64")]
    report = {}
    for run in runs:
        out, err = run.communicate(timeout=900)
        assert run.returncode == 0, err[-3000:]
        report.update(json.loads(out.strip().splitlines()[-1]))
    assert len(report) == 3
    for name, facts in report.items():
        assert facts["target"], name
        # Philox's two 32x32->64 multiplies per round (the rounds stay a loop).
        assert facts["mul_wide"] >= 2, (name, facts)
        assert facts["local_depots"] in ([], [28], [40], [28, 40]), (name, facts)
