"""gpuinit: neural-network parameters made where they live, on the GPU.

Every initializer fills its array on the device with gpuinit's own Philox4x32-10
kernels (Numba CUDA), or on the CPU with the same kernels compiled by Numba, and
gives the same numbers on both.
"""

from . import fans, init, initializers, layers, random
from .devices import (
    Device,
    cuda_available,
    cuda_unavailable_reason,
    device,
    set_default_device,
)
from .errors import DeviceError, LawError, OutOfMemoryError
from .fans import calculate_gain
from .layers import Parameter, Sequential
from .seeding import manual_seed

__version__ = "0.2.0"

__all__ = [
    "Device",
    "DeviceError",
    "LawError",
    "OutOfMemoryError",
    "Parameter",
    "Sequential",
    "calculate_gain",
    "cuda_available",
    "cuda_unavailable_reason",
    "device",
    "fans",
    "init",
    "initializers",
    "layers",
    "manual_seed",
    "random",
    "set_default_device",
    "__version__",
]
