"""In-place targets: NumPy arrays, CuPy arrays and torch tensors (CPU or CUDA), zero-copy.

:func:`wrap` returns a :class:`Target` whose ``array`` is a NumPy or CuPy view of
the same memory (through ``Tensor.numpy()`` on the CPU and
``__cuda_array_interface__`` on CUDA), so kernels fill the caller's buffer
directly.  torch bfloat16 tensors (CPU and CUDA alike) are viewed through their 16-bit
storage: the kernels write bfloat16 bit patterns there, and constants and computed
matrices are rounded to bfloat16 patterns on the way in (:class:`Bits16Target`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .devices import Device, array_module, device_of, to_gpu
from .devices import device as resolve_device
from .dtypes import BFLOAT16, FORMATS, bfloat16_bits, dtype_name, encode16
from .fill_values import is_fill_target, is_torch_tensor
from .launch import Bits16Out
from .random import Launch, prepare

# The dtype of each part of a complex dtype (what torch.view_as_real gives).
_PARTS = {"complex64": "float32", "complex128": "float64"}


@dataclass
class Target:
    """A writable view of an in-place target: ``array`` shares ``original``'s memory."""

    original: Any
    array: Any
    device: Device
    dtype: str  # canonical dtype name, e.g. "bfloat16"

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def xp(self):
        """Return the array module of the target's device (numpy or cupy)."""
        return array_module(self.device)

    @property
    def is_float(self) -> bool:
        return self.dtype in FORMATS

    @property
    def is_complex(self) -> bool:
        return self.dtype in _PARTS

    @property
    def has_memory(self) -> bool:
        """Return True: the target has memory to write (a meta tensor's has none)."""
        return True

    def real_view(self) -> Target:
        """Return the target of a complex target's real view, as ``torch.view_as_real``
        gives it: the real and imaginary parts as a last axis of 2 (float32 for complex64,
        float64 for complex128), in the same memory and with the same ``original``.
        ValueError naming ``tensor.dtype`` for a real target."""
        if not self.is_complex:
            raise ValueError(f"tensor.dtype={self.dtype!r} is not complex: it has no real view")
        real = self.array.real  # a view of the real parts, with the complex strides
        # The imaginary part is the next value of each pair: half a complex element on.
        array = self.xp.lib.stride_tricks.as_strided(
            real, shape=(*real.shape, 2), strides=(*real.strides, real.itemsize))
        return replace(self, array=array, dtype=_PARTS[self.dtype])

    @property
    def compute_dtype(self) -> str:
        """Return the dtype the sampling kernels generate in (the target's own, for float
        targets)."""
        return self.dtype

    @property
    def value_dtype(self) -> str:
        """Return the dtype of values computed apart and handed to :meth:`write`
        (orthogonal and sparse matrices): the target's own."""
        return self.dtype

    def direct_out(self):
        """Return ``array`` when kernels can fill it as ``out=`` (C-contiguous float in the
        machine's byte order), else None: the values are then made apart and copied in."""
        if self.is_float and self.array.flags.c_contiguous and self.array.dtype.isnative:
            return self.array
        return None

    def sample(self, sampler, *args, **options) -> None:
        """Fill the target with ``sampler(self.shape, *args, out=..., **options)``: one call
        of a :mod:`gpuinit.random` sampler (or any sampler taking ``out=``, ``full_shape=``
        and ``start=`` as they do), into ``array`` itself when :meth:`direct_out` allows,
        else made apart and copied in by :meth:`write`; returns None.  A target holding a
        block of a larger tensor overrides it to make the call as that block."""
        out = self.direct_out()
        values = sampler(self.shape, *args, out=out, **options)
        if out is None:
            self.write(values)

    def prepare_sample(self, sampler, *args, **options) -> Launch:
        """Check the call :meth:`sample` would make with a :mod:`gpuinit.random` sampler and
        return its :class:`gpuinit.random.Launch` (nothing written, no seed drawn), for
        :meth:`run_sample`."""
        return prepare(sampler, self.shape, *args, out=self.direct_out(), **options)

    def run_sample(self, launch: Launch, seed: int | None = None) -> None:
        """Make the call of a :meth:`prepare_sample` launch of this target with ``seed``;
        returns None."""
        values = launch.run(seed)
        if launch.out is None:
            self.write(values)

    def check_writable(self) -> None:
        """Return None when the target has memory to write; ValueError otherwise."""

    def write(self, values) -> None:
        """Copy ``values`` (same shape, on the same device) into the target."""
        self.array[...] = values

    def assign(self, key, value: int | float) -> None:
        """Set the elements ``array[key]`` to the number ``value`` (constants, eye, dirac)."""
        self.array[key] = value

    def mark_written(self) -> None:
        """Record an in-place write: a torch tensor's version counter advances, as torch's
        own in-place ops advance it, so autograd refuses a backward pass through the old
        values instead of silently using the new ones."""
        original = self.original
        if is_torch_tensor(original) and not original.is_inference():
            from torch.autograd.graph import increment_version

            increment_version(original)


def wrap(t: Any, *, meta: bool = False) -> Target:
    """Return the :class:`Target` of ``t``; TypeError for anything else, ValueError if
    read-only or if its elements may overlap in memory (an expanded view).

    With ``meta=True`` a torch meta tensor gives a target of its shape and dtype and no
    memory, to prepare a fill on (its :meth:`Target.check_writable` raises ValueError);
    otherwise a meta tensor is refused (ValueError)."""
    if isinstance(t, np.ndarray):
        if not t.flags.writeable:
            raise ValueError("tensor is read-only")
        _check_no_overlap(t.shape, t.strides, t.itemsize)
        # A subclass (np.matrix, np.memmap) is written through a plain view of its memory.
        array = t if type(t) is np.ndarray else t.view(np.ndarray)
        return Target(t, array, resolve_device("cpu"), dtype_name(t.dtype))
    if type(t).__module__.split(".")[0] == "cupy":
        _check_no_overlap(t.shape, t.strides, t.itemsize)
        return Target(t, t, device_of(t), dtype_name(t.dtype))
    if is_torch_tensor(t):
        target = _wrap_torch(t, meta)
        _check_no_overlap(tuple(t.shape), t.stride())
        return target
    raise TypeError(
        f"tensor must be a numpy array, a cupy array or a torch tensor, got {type(t).__name__}"
    )


def _check_no_overlap(shape, strides, itemsize: int | None = None) -> None:
    """Raise ValueError unless every element of a view with ``shape`` and ``strides`` has
    its own memory: strides in elements, or in bytes when ``itemsize`` (the bytes of an
    element) is given, as NumPy and CuPy give them (a stride that is not a whole number
    of elements can make two elements share some of their bytes).

    Dimensions taken by increasing |stride| must each step past everything the
    smaller ones span; an expanded (stride-0) or otherwise overlapping view fails,
    as torch refuses to write into such tensors in place.
    """
    if 0 in shape:
        return  # no elements
    span = 0 if itemsize is None else itemsize - 1  # the farthest unit reached so far
    for stride, size in sorted((abs(st), n) for n, st in zip(shape, strides, strict=True)
                               if n > 1):
        if stride <= span:
            unit = "elements" if itemsize is None else "bytes"
            raise ValueError(
                f"tensor of shape {tuple(shape)} and strides {tuple(strides)} ({unit}) has "
                "elements that share memory (an expanded or overlapping view): writing it "
                "in place would mix their values; pass a tensor with its own memory, e.g. "
                ".clone()"
            )
        span += stride * (size - 1)


def _wrap_torch(t, meta: bool = False) -> Target:
    import torch

    name = dtype_name(t.dtype)
    if t.layout != torch.strided:
        raise TypeError(f"tensor has layout {t.layout}: only dense (strided) tensors are "
                        "filled in place")
    if not is_fill_target(name):
        raise TypeError(f"tensor has dtype {t.dtype}, which gpuinit cannot fill; use bool, "
                        "an integer (int8..int64, uint8..uint64), float16, bfloat16, float32, "
                        "float64, complex64 or complex128")
    if t.is_conj() or t.is_neg():
        raise ValueError("tensor is a conjugate or negative view (is_conj()/is_neg()): "
                         "writing it in place would store transformed values; call "
                         ".resolve_conj()/.resolve_neg() first")
    data = t.detach()
    if data.device.type == "meta" and meta:
        return _MetaTarget.of(data, name)
    if name == "bfloat16":
        data = data.view(torch.int16)
    if data.device.type == "cpu":
        array = data.numpy()
        device = resolve_device("cpu")
    elif data.device.type == "cuda":
        array = to_gpu(data, data.device.index)
        device = resolve_device(f"cuda:{data.device.index}")
    else:
        raise ValueError(f"torch tensors on {data.device.type!r} are not supported")
    if name == "bfloat16":
        return Bits16Target(t, array.view(np.uint16), device, name)
    return Target(t, array, device, name)


def numpy_view(tensor) -> np.ndarray:
    """Return a NumPy view of the memory of a CPU torch tensor (bfloat16 as
    ``ml_dtypes.bfloat16``), zero-copy."""
    import torch

    data = tensor.detach()
    if data.dtype == torch.bfloat16:
        return data.view(torch.int16).numpy().view(BFLOAT16.numpy_dtype)
    return data.numpy()


class Bits16Target(Target):
    """A torch bfloat16 tensor, on the CPU or CUDA: ``array`` is its uint16 storage.

    The same route on both devices (so the CPU tests cover the CUDA one): sampling kernels
    write bfloat16 patterns straight into the storage (:class:`gpuinit.launch.Bits16Out`),
    rounded once and clamped to the law's bounds as for any bfloat16 output;
    constants are written as their rounded pattern; orthogonal and sparse matrices
    are computed in float32 and rounded once to nearest even on the way in.
    """

    def direct_out(self):
        """Return the storage as a :class:`Bits16Out` when it is C-contiguous, else None
        (values are then made as a bfloat16 array and their patterns copied in)."""
        if self.array.flags.c_contiguous:
            return Bits16Out(self.array, BFLOAT16)
        return None

    @property
    def value_dtype(self) -> str:
        return "float32"

    def write(self, values) -> None:
        """Copy ``values`` (bfloat16, float32 or float64, same shape) in as bfloat16 patterns."""
        if dtype_name(values.dtype) == "bfloat16":
            self.array[...] = values.view(np.uint16)
        else:
            self.array[...] = bfloat16_bits(values, self.xp)

    def assign(self, key, value: int | float) -> None:
        self.array[key] = encode16(float(value), BFLOAT16)


class _MetaTarget(Target):
    """A torch meta tensor a fill is prepared on: its shape and dtype, and no memory.

    ``array`` is a read-only zero-stride view of one element, so checks of shape
    and dtype see the tensor's own; there is nothing to write into.
    """

    @classmethod
    def of(cls, data, name: str) -> _MetaTarget:
        import torch

        # On the CPU whatever torch's default device (torch.device("meta") included): its
        # NumPy view is all that is kept.
        element = torch.zeros((), dtype=data.dtype, device="cpu")
        if name == "bfloat16":
            from .dtypes import BFLOAT16

            one = element.view(torch.int16).numpy().view(BFLOAT16.numpy_dtype)
        else:
            one = element.numpy()
        array = np.broadcast_to(one, tuple(data.shape))
        return cls(data, array, resolve_device("cpu"), name)

    def direct_out(self):
        return None

    @property
    def has_memory(self) -> bool:
        return False

    def check_writable(self) -> None:
        raise ValueError("torch tensors on 'meta' are not supported: a meta tensor has no "
                         "memory to write; materialize it first")

    def write(self, values) -> None:
        self.check_writable()

    def assign(self, key, value: int | float) -> None:
        self.check_writable()
