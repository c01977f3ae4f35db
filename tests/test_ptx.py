"""Every CUDA kernel compiles to PTX, with no GPU and no driver (NVVM from pip).

The simulator runs kernels as Python and cannot catch typing or lowering errors;
compiling for real does.  There is one kernel per (distribution, output format);
each must compile for sm_90 and an older sm_80, with every device function
inlined (no ``call`` left), Philox's 32x32->64 multiplies as ``mul.wide.u32`` /
``mul.hi.u32``, and nothing in local memory beyond, at most, a small libdevice
depot (28 or 40 bytes, the size of libdevice's trigonometric argument reduction,
a cold path).  A uniform kernel carries no Box-Muller and no inverse CDF; the
uniform and normal kernels of the 24-bit formats hold no float64 instruction.  Runs in
a subprocess because the suite's process may use the simulator.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from gpuinit.kernels import fill

SCRIPT = r"""
import json, re
from gpuinit.kernels import cuda as cuda_kernels
from gpuinit.kernels import fill

report = {}
for dist in fill.DISTRIBUTION_NAMES:
    for fmt in (fill.FMT_FLOAT32, fill.FMT_FLOAT64, fill.FMT_FLOAT16, fill.FMT_BFLOAT16):
        for cc in ((9, 0), (8, 0)):
            ptx = cuda_kernels.compile_ptx(dist, fmt, cc, lead_dims=2)
            depots = re.findall(r"\.local \.align \d+ \.b8 \s*__local_depot\d+\[(\d+)\]", ptx)
            report[f"{dist}-{fmt}-sm{cc[0]}{cc[1]}"] = {
                "target": f".target sm_{cc[0]}{cc[1]}" in ptx,
                "entry": f"fill_kernel_{dist}_{fmt}" in ptx,
                "calls": len(re.findall(r"\bcall(\.uni)?\b", ptx)),
                "mul_wide": ptx.count("mul.wide.u32") + ptx.count("mul.hi.u32"),
                "local_depots": sorted(int(d) for d in depots),
                # Box-Muller's r = sqrt(-2 ln u), or libm's logarithm.
                "logarithm": "lg2" in ptx or "sqrt.rn" in ptx,
                "fp64": [line.strip() for line in ptx.splitlines()
                         if ".f64" in line and not line.lstrip().startswith(".param")],
            }

# NVVM contracts a*b + c into one fma by default (-fma=1), which can change bits against
# the CPU.  For the bit-exact kernels (uniform, normal, Laplace), compile again with contraction
# off and list the fma instructions only the default made: each must multiply by an
# immediate power of two (an exact product, so fusing it rounds nothing differently).
import collections
from numba.cuda import compiler

def fma_lines(ptx):
    return collections.Counter(re.sub(r"%\w+", "%r", line.strip().rstrip(";"))
                               for line in ptx.splitlines() if "fma.rn." in line)

contracted = {}
for dist in (fill.DIST_UNIFORM, fill.DIST_NORMAL, fill.DIST_LAPLACE):
    for fmt in (fill.FMT_FLOAT32, fill.FMT_FLOAT64, fill.FMT_FLOAT16, fill.FMT_BFLOAT16):
        shipped = cuda_kernels.compile_ptx(dist, fmt, (9, 0))
        with cuda_kernels._compute_capability((9, 0)):
            result = compiler.compile_cuda(
                cuda_kernels.kernel_source(dist, fmt), None, cuda_kernels.signature(dist, fmt),
                nvvm_options={"opt": 3, "fastmath": False, "fma": False}, cc=(9, 0))
        uncontracted = result.library.get_asm_str(cc=(9, 0))
        contracted[f"{dist}-{fmt}"] = sorted((fma_lines(shipped) - fma_lines(uncontracted))
                                             .elements())
print(json.dumps({"report": report, "contracted": contracted}))
"""

_IMMEDIATE = re.compile(r"\b0([fd])([0-9A-Fa-f]{8,16})\b")


def _is_power_of_two_immediate(text: str, width: str) -> bool:
    bits = int(text, 16)
    mantissa = bits & ((1 << 23) - 1 if width == "f" else (1 << 52) - 1)
    return mantissa == 0 and bits != 0


@pytest.mark.slow  # compiles every kernel (tens of seconds)
def test_every_kernel_compiles_to_ptx_without_a_driver():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    report = found["report"]
    assert len(report) == len(fill.DISTRIBUTION_NAMES) * 4 * 2
    assert len(found["contracted"]) == 3 * 4
    for name, lines in found["contracted"].items():
        for line in lines:
            immediates = _IMMEDIATE.findall(line)
            assert any(_is_power_of_two_immediate(digits, width)
                       for width, digits in immediates), (name, line)
    for name, facts in report.items():
        assert facts["target"] and facts["entry"], name
        assert facts["calls"] == 0, (name, facts)
        # Philox's two 32x32->64 multiplies per round (the rounds stay a loop).
        assert facts["mul_wide"] >= 2, (name, facts)
        assert facts["local_depots"] in ([], [28], [40], [28, 40]), (name, facts)
    # Specialized at compile time: the uniform kernels hold no Box-Muller logarithm.
    for fmt in range(4):
        assert not report[f"0-{fmt}-sm90"]["logarithm"], fmt
        assert report[f"1-{fmt}-sm90"]["logarithm"], fmt
    # The 24-bit formats compute uniform, normal and Laplace values in float32 alone.
    for dist in (fill.DIST_UNIFORM, fill.DIST_NORMAL, fill.DIST_LAPLACE):
        for fmt in (0, 2, 3):
            assert report[f"{dist}-{fmt}-sm90"]["fp64"] == [], (dist, fmt)
    assert report["1-1-sm90"]["fp64"]


def test_power_of_two_immediates_are_told_apart():
    assert _is_power_of_two_immediate("4190000000000000", "d")  # 2^26
    assert _is_power_of_two_immediate("3F800000", "f")  # 1.0
    assert not _is_power_of_two_immediate("4190000000000001", "d")
    assert not _is_power_of_two_immediate("3FC00000", "f")  # 1.5
    assert not _is_power_of_two_immediate("00000000", "f")
