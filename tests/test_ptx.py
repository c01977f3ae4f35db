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
import subprocess
import sys

SCRIPT = r"""
import json, re
from gpuinit.kernels import cuda as cuda_kernels
from gpuinit.kernels import fill

report = {}
for dist in (fill.DIST_UNIFORM, fill.DIST_NORMAL, fill.DIST_TRUNCATED_NORMAL):
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
print(json.dumps(report))
"""


def test_every_kernel_compiles_to_ptx_without_a_driver():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report) == 3 * 4 * 2
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
    # The 24-bit formats compute uniform and normal values in float32 alone.
    for dist in (0, 1):
        for fmt in (0, 2, 3):
            assert report[f"{dist}-{fmt}-sm90"]["fp64"] == [], (dist, fmt)
    assert report["1-1-sm90"]["fp64"]
