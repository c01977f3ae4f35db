"""Parameters: named arrays that live on their device from the moment they exist.

A :class:`Parameter` holds ``.data``, a CuPy array on CUDA or a NumPy array on
the CPU, made there by an initializer's kernels or copied there once from a
given array.  Passing one Parameter object to several layers shares it.

:func:`path_stream` is the per-parameter stream of the counter contract: a
stable 64-bit hash of the parameter's path ("dense_1/weight"), so a model's
weights depend on (model seed, path, shape, initializer) alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arguments import check_bool, check_shape, size_of
from ..devices import CPU, Device, to_gpu
from ..devices import device as resolve_device
from ..dtypes import FORMATS, dtype_name
from ..fill_values import check_fill_values, is_torch_tensor
from ..given_arrays import (
    check_same_shape,
    float_dtype_or_given,
    plain_array,
    shape_of,
    to_device,
)
from ..initializers import Initializer, get
from ..initializers.registry import id_of


def path_stream(path: str) -> int:
    """Return the stream of the parameter at ``path``: a stable 64-bit hash (BLAKE2b).

    The same in every process and on every machine, unlike Python's ``hash``.
    """
    digest = hashlib.blake2b(path.encode("utf-8"), digest_size=8, person=b"gpuinit.path")
    return int.from_bytes(digest.digest(), "little")


def is_array_like(value: Any) -> bool:
    """Return True for values that give a parameter's contents rather than an initializer:
    NumPy/CuPy arrays, anything with ``__array__``/``__cuda_array_interface__``,
    nested lists and tuples of numbers, scalars and torch tensors."""
    if isinstance(value, (np.ndarray, np.generic, list, tuple, int, float)):
        return not isinstance(value, bool)
    if is_torch_tensor(value):  # before __cuda_array_interface__, which torch raises for
        return True  # tensors that need grad
    return hasattr(value, "__cuda_array_interface__") or hasattr(value, "__array__")


def check_values(values: Any, argument: str) -> None:
    """Raise unless ``values`` can fill a parameter: ValueError naming ``argument`` for a
    ragged nested list, TypeError for what are not weights under the rule of
    :mod:`gpuinit.fill_values` (booleans, strings, objects).  Returns None."""
    if isinstance(values, (list, tuple)):
        try:
            np.asarray(values)
        except ValueError:
            raise ValueError(f"{argument}: the nested list is ragged (its rows have different "
                             "lengths); give a rectangular list or an array") from None
    check_fill_values(values, argument, constant=False)


def convert(values: Any, shape: tuple[int, ...] | None, dtype: Any, dev: Device,
            argument: str, *, copy_host: bool = False):
    """Return ``values`` as an array of ``dtype`` on ``dev`` (see ``to_device``; a torch
    tensor is read detached), every check naming ``argument``: a rectangular array of
    numbers, of ``shape`` when it is given, whose finite values stay finite in ``dtype``."""
    values = plain_array(values)
    check_values(values, argument)
    return to_device(values, shape, dtype, dev, argument, copy_host=copy_host)


def undo(restores: list[Callable[[], None]]) -> None:
    """Call each function of ``restores`` (from ``snapshot()`` methods), last first, so that
    the oldest state is the one left.  Returns None."""
    for restore in reversed(restores):
        restore()


def describe(initializer: Any) -> str:
    """Return a short name for an initializer: its Keras id or its class/function name;
    "array" for a Parameter copied from an array (its ``initializer`` is that string)."""
    if isinstance(initializer, str):
        return initializer
    if isinstance(initializer, Initializer):
        return id_of(type(initializer)) or type(initializer).__name__
    return getattr(initializer, "__name__", type(initializer).__name__)


class Parameter:
    """A named, device-resident array.  Pass one object to several layers to share it.

    ``Parameter(value)`` with an array (NumPy, CuPy, nested list) copies it to the
    device once, now.  ``Parameter(initializer)`` with a string id, an
    Initializer or a callable ``(shape, dtype)`` is made by the first layer that
    builds it, which gives it its shape, path and stream.

    Attributes: ``name`` (its path once built), ``data`` (CuPy on CUDA, NumPy on
    the CPU; None until built), ``shape``, ``dtype``, ``device``, ``trainable``,
    ``initializer`` (the initializer that made it, or "array").  Plays the part
    of a Keras ``Variable``, a NeuPy shared parameter and a ``torch.nn.Parameter``.

    >>> import gpuinit as gi
    >>> p = gi.Parameter([[1.0, 2.0]], device="cpu")
    >>> p.shape, p.initializer
    ((1, 2), 'array')
    """

    def __init__(self, value: Any = None, *, name: str | None = None, trainable: bool = True,
                 dtype: Any = None, device: Any = None):
        check_bool(trainable, "trainable")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, got {type(name).__name__}")
        self.name = name
        self.trainable = trainable
        self.data = None
        self._dtype = None if dtype is None else np.dtype(float_dtype_or_given(dtype))
        self._device = None if device is None else resolve_device(device)
        if value is None:
            raise TypeError("Parameter needs a value: an array or an initializer")
        if isinstance(value, Parameter):
            raise TypeError("Parameter(value): value is already a Parameter; pass it directly")
        if is_array_like(value):
            self.initializer: Any = "array"
            own_dtype = _dtype_of_values(value)  # a torch dtype is read before the detach
            value = plain_array(value)
            dev = self._device or _device_of_values(value)
            argument = "Parameter value" if name is None else name
            self.data = convert(value, None, self._dtype or own_dtype, dev, argument,
                                copy_host=True)
            self._dtype, self._device = self.data.dtype, dev
        else:
            self.initializer = get(value)

    @property
    def built(self) -> bool:
        """Return True once ``data`` exists."""
        return self.data is not None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Return the shape, or None before the parameter is built."""
        return None if self.data is None else tuple(self.data.shape)

    @property
    def dtype(self) -> np.dtype | None:
        """Return the dtype, or None before the parameter is built (and none was asked for)."""
        return self._dtype

    @property
    def device(self) -> Device | None:
        """Return the Device of ``data``, or None before the parameter is built."""
        return self._device

    @property
    def size(self) -> int:
        """Return the number of elements (0 before the parameter is built)."""
        return 0 if self.data is None else int(self.data.size)

    @property
    def nbytes(self) -> int:
        """Return the bytes of ``data`` (0 before the parameter is built)."""
        return 0 if self.data is None else int(self.data.nbytes)

    def numpy(self) -> np.ndarray:
        """Return a host (NumPy) copy of ``data``: the only way values leave the device."""
        if self.data is None:
            raise ValueError(f"parameter {self.name!r} is not built yet")
        if isinstance(self.data, np.ndarray):
            return self.data.copy()
        return self.data.get()

    def build(self, shape: Iterable[int], *, dtype: Any, device: Any, seed: int,
              path: str) -> Parameter:
        """Make ``data`` with the parameter's initializer; returns self.

        ``seed`` is used when the initializer has none; the stream is
        :func:`path_stream` of ``path``.  A built (shared) parameter only checks
        that ``shape`` and ``device`` match (ValueError naming ``path``); it keeps
        its own dtype.
        """
        shape = check_shape(shape, path)
        dev = resolve_device(device)
        wanted = np.dtype(float_dtype_or_given(self._dtype if self._dtype is not None else dtype))
        if self.built:
            if self.shape != shape:
                raise ValueError(f"{path}: the shared parameter {self.name!r} has shape "
                                 f"{self.shape}, this layer needs {shape}")
            if self._device != dev:
                raise ValueError(f"{path}: the shared parameter {self.name!r} lives on "
                                 f"{self._device}, this layer on {dev}")
            return self
        self.data = initialize(self.initializer, shape, wanted, dev, seed, path)
        self.name = self.name or path
        self._dtype, self._device = self.data.dtype, dev
        return self

    def snapshot(self) -> Callable[[], None]:
        """Return a function that puts the parameter's name, data, dtype and device back as
        they are now (the contents of ``data`` are not copied)."""
        state = (self.name, self.data, self._dtype, self._device)

        def restore() -> None:
            self.name, self.data, self._dtype, self._device = state

        return restore

    def staged(self, values: Any, argument: str = "values"):
        """Return ``values`` converted to this parameter's shape and dtype, ready for
        :meth:`write`, every check naming ``argument``; nothing is written.

        Host values stay on the host (so staging many parameters costs no device
        memory); device values go to this parameter's device.
        """
        if self.data is None:
            raise ValueError(f"parameter {self.name!r} is not built yet")
        values = plain_array(values)
        on_device = hasattr(values, "__cuda_array_interface__")
        where = self._device if on_device else CPU
        return convert(values, self.shape, self.data.dtype, where, argument)

    def write(self, staged: Any) -> None:
        """Copy ``staged`` (from :meth:`staged`: same shape and dtype) into ``data``."""
        if isinstance(self.data, np.ndarray):
            self.data[...] = staged
        elif isinstance(staged, np.ndarray):
            self.data[...] = to_gpu(staged, self._device.index)
        else:
            self.data[...] = staged

    def assign(self, values: Any, argument: str = "values") -> None:
        """Write ``values`` (any array of the same shape) into ``data`` on its device; every
        check comes first, so a refused ``values`` changes nothing."""
        self.write(self.staged(values, argument))

    def __repr__(self) -> str:
        if not self.built:
            return f"Parameter(name={self.name!r}, initializer={describe(self.initializer)}, " \
                   "unbuilt)"
        return (f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype}, "
                f"device={self.device}, trainable={self.trainable})")


def _device_of_values(values: Any) -> Device:
    if hasattr(values, "__cuda_array_interface__") and hasattr(values, "device"):
        return Device("cuda", int(values.device.id))
    return resolve_device(None)


def _dtype_of_values(values: Any) -> Any:
    dtype = getattr(values, "dtype", None)
    if dtype is not None and dtype_name(dtype) in FORMATS:
        return dtype
    return None  # lists, integers: float32


def initialize(initializer: Any, shape: tuple[int, ...], dtype: np.dtype, dev: Device,
               seed: int, path: str):
    """Return the array ``initializer`` makes for the parameter at ``path``, on ``dev``.

    Built-in and NeuPy-style initializers fill it on the device with
    ``seed=seed`` (used when they have no seed of their own) and
    ``stream=path_stream(path)``.  Keras-style ``__call__(shape, dtype)``
    subclasses and plain callables are called as Keras calls them; what they
    return is copied to the device once, and its shape is checked.
    """
    name = dtype_name(dtype)
    if isinstance(initializer, Initializer) and type(initializer).__call__ is Initializer.__call__:
        return initializer(shape, name, dev, stream=path_stream(path), seed=seed)
    values = initializer(shape, name)
    return convert(values, shape, name, dev, f"the initializer of {path}", copy_host=True)


def unique(parameters: Iterable[Parameter]) -> list[Parameter]:
    """Return ``parameters`` in order, each Parameter object once (a shared one at its first
    place), as Keras lists a layer's or a model's weights."""
    found: list[Parameter] = []
    seen: set[int] = set()
    for parameter in parameters:
        if id(parameter) not in seen:
            seen.add(id(parameter))
            found.append(parameter)
    return found


def assign_all(parameters: dict[str, Parameter], weights: Any, owner: str) -> None:
    """Write ``weights`` (one array per entry of ``parameters``, {path: Parameter}, in its
    order) into the parameters, all or nothing; returns None.

    Every array is checked and converted before anything is written (ValueError or
    TypeError naming the path: a count that differs, a ragged list, a shape that
    differs, booleans or strings, a finite value that does not fit the parameter's
    dtype), so a bad list changes nothing; TypeError when ``weights`` is not a list (or
    tuple).  Torch tensors are read detached.  ``owner`` ("the model", "layer 'dense'")
    names what has the parameters.  The checks of ``keras.Model.set_weights`` and
    ``keras.layers.Layer.set_weights``, plus the element types.
    """
    if not isinstance(weights, (list, tuple)):
        raise TypeError(f"set_weights takes a list of arrays, one per parameter in weights "
                        f"order, got {type(weights).__name__}")
    weights = [plain_array(values) for values in weights]
    if len(weights) != len(parameters):
        raise ValueError(f"set_weights got {len(weights)} arrays; {owner} has "
                         f"{len(parameters)} parameters")
    staged = []
    for (path, parameter), values in zip(parameters.items(), weights, strict=True):
        check_values(values, path)
        found = shape_of(values)
        if found != parameter.shape:
            raise ValueError(f"{path}: got shape {found}, expected {parameter.shape}")
        staged.append(parameter.staged(values, path))
    for parameter, values in zip(parameters.values(), staged, strict=True):
        parameter.write(values)


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter to make: its path, shape and initializer (anything
    :func:`gpuinit.initializers.get` takes, an array, or a :class:`Parameter`)."""

    path: str
    shape: tuple[int, ...]
    initializer: Any
    trainable: bool = True


def make_parameters(specs: Iterable[ParameterSpec], *, seed: int, device: Any = None,
                    dtype: Any = "float32",
                    progress: Callable[[int, int, str], None] | None = None
                    ) -> dict[str, Parameter]:
    """Return {path: Parameter} for ``specs``, each made on ``device`` in ``dtype``.

    Every parameter draws from its own stream, :func:`path_stream` of its path,
    so each depends on (seed, path, shape, initializer) alone.  ``progress(done,
    total, path)`` is called after each parameter with bytes made so far and in
    all.  Layers build through this; it also builds parameter stacks that are
    not a Sequential model (see ``examples/huge_model.py``).  When any step fails
    (or ``progress`` raises), the shared Parameters of ``specs`` are put back as
    they were before the call.
    """
    specs = list(specs)
    dev = resolve_device(device)
    paths = [spec.path for spec in specs]
    if len(set(paths)) != len(paths):
        twice = sorted({p for p in paths if paths.count(p) > 1})
        raise ValueError(f"two parameters have the path {twice[0]!r}")
    itemsize = np.dtype(float_dtype_or_given(dtype)).itemsize
    total = sum(size_of(check_shape(s.shape, s.path)) for s in specs) * itemsize
    restores = [spec.initializer.snapshot() for spec in specs
                if isinstance(spec.initializer, Parameter)]
    made: dict[str, Parameter] = {}
    done = 0
    try:
        for spec in specs:
            made[spec.path] = resolve_parameter(spec, seed=seed, device=dev, dtype=dtype)
            done += made[spec.path].nbytes
            if progress is not None:
                progress(done, total, spec.path)
    except BaseException:
        undo(restores)  # shared Parameters built here are unbuilt again
        raise
    return made


def resolve_parameter(spec: ParameterSpec, *, seed: int, device: Device, dtype: Any
                      ) -> Parameter:
    """Return the Parameter for ``spec``: a shared one (built here if it was not),
    one copied from an array, or a new one filled by its initializer."""
    value = spec.initializer
    if isinstance(value, Parameter):
        return value.build(spec.shape, dtype=dtype, device=device, seed=seed, path=spec.path)
    if is_array_like(value):
        check_values(value, spec.path)
        check_same_shape(value, spec.shape, spec.path)
        return Parameter(value, name=spec.path, trainable=spec.trainable, dtype=dtype,
                         device=device)
    parameter = Parameter(value, name=spec.path, trainable=spec.trainable)
    return parameter.build(spec.shape, dtype=dtype, device=device, seed=seed, path=spec.path)

