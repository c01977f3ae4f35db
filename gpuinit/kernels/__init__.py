"""Device code of gpuinit: Philox4x32-10 and its transforms, one scalar source built
for three targets: NumPy arrays (:mod:`gpuinit.kernels.arrays`, nothing to compile),
one compiled CPU loop per format (:mod:`gpuinit.kernels.cpu`, which
:mod:`gpuinit.kernels.route` chooses when ready) and CUDA
(:mod:`gpuinit.kernels.cuda`, imported only when numba-cuda is present)."""

from .distributions import TRUNC_ATTEMPTS, TRUNC_MIN_ACCEPTANCE
from .fill import (
    DIST_NORMAL,
    DIST_TRUNCATED_NORMAL,
    DIST_UNIFORM,
    FMT_BFLOAT16,
    FMT_FLOAT16,
    FMT_FLOAT32,
    FMT_FLOAT64,
)
from .philox import MAX_ATTEMPTS, MAX_BLOCKS

__all__ = [
    "DIST_NORMAL",
    "DIST_TRUNCATED_NORMAL",
    "DIST_UNIFORM",
    "FMT_BFLOAT16",
    "FMT_FLOAT16",
    "FMT_FLOAT32",
    "FMT_FLOAT64",
    "MAX_ATTEMPTS",
    "MAX_BLOCKS",
    "TRUNC_ATTEMPTS",
    "TRUNC_MIN_ACCEPTANCE",
]
