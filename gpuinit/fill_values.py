"""Which values count as numbers to fill a tensor with, and which tensors are filled.

One rule for every entry point (``Constant``, ``FixedValue``, ``init.constant_``,
``weight=`` arrays, ``set_weights``, weight files, NumPy, CuPy and torch alike):

* Targets: a tensor or array of bool, a signed or unsigned integer (8 to 64 bits),
  float16, bfloat16, float32, float64, complex64 or complex128
  (:func:`gpuinit.dtypes.numeric_dtype`).  torch's uint16/32/64 are filled like
  NumPy's.
* Constants (a scalar, or an array broadcast to the shape): bool, integer and real
  float values, each counting as the number it is (True is 1, False is 0), for every
  target dtype, as ``torch.nn.init.constant_`` and ``keras.initializers.Constant`` take
  them.  Complex constants are refused (a Keras config holds no complex number).
* Weights (an array given as a tensor's whole contents): integer and real float values,
  and complex ones for a complex target.  Bool arrays are refused there: a mask given
  where weights belong is a mistake, not weights.
* Strings, objects, dates and anything NumPy cannot read as numbers are refused
  (TypeError naming the argument).  Whether each value fits the target (0/1 for bool,
  whole numbers in range for integers, finite after rounding for floats) is checked
  apart, once the target's dtype is known (:func:`gpuinit.dtypes.check_representable`).
"""

from __future__ import annotations

from numbers import Complex, Integral, Real
from typing import Any

import numpy as np

from .dtypes import EXACT_DTYPES, FORMATS, dtype_name, numeric_dtype


def is_torch_tensor(value: Any) -> bool:
    """Return True for a torch tensor (``torch.Tensor`` and its subclasses, such as
    ``nn.Parameter``), judged by its type's module: torch is never imported here, and
    tensors that need grad raise on ``__cuda_array_interface__``."""
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def is_fill_target(dtype: Any) -> bool:
    """Return True when tensors of ``dtype`` (any dtype-like: NumPy, CuPy, torch, a name)
    can be filled: bool, integers, the four float formats and complex (the targets of
    the module's rule)."""
    try:
        numeric_dtype(dtype)
    except (TypeError, ValueError):
        return False
    return True


def kind_of(values: Any) -> str:
    """Return the kind of numbers ``values`` holds: ``"b"`` bool, ``"i"`` integer,
    ``"f"`` real float (bfloat16 included), ``"c"`` complex, ``"O"`` anything else.

    Python and NumPy scalars are judged by their type, arrays and tensors by their dtype
    (no copy), nested lists by NumPy's reading of them (``"O"`` for a ragged one)."""
    if isinstance(values, (bool, np.bool_)):
        return "b"
    if isinstance(values, (Integral, Real, Complex)) and not hasattr(values, "dtype"):
        return "i" if isinstance(values, Integral) else "f" if isinstance(values, Real) else "c"
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(values).dtype
        except (TypeError, ValueError):
            return "O"
    return dtype_kind(dtype)


def dtype_kind(dtype: Any) -> str:
    """Return the kind of numbers a ``dtype`` (NumPy, CuPy, torch, a name) holds, as
    :func:`kind_of` names them: ``"b"``, ``"i"`` (signed or unsigned, 8 to 64 bits),
    ``"f"`` (the four float formats), ``"c"`` (complex64, complex128) or ``"O"``."""
    try:
        name = dtype_name(dtype)
    except TypeError:
        return "O"
    if name in FORMATS:
        return "f"
    if name not in EXACT_DTYPES:
        return "O"
    return "b" if name == "bool" else "c" if name.startswith("complex") else "i"


def accepts(kind: str, *, constant: bool, complex_target: bool = False) -> bool:
    """Return True when values of ``kind`` (see :func:`kind_of`) fill a tensor under the
    module's rule: as a ``constant`` (bool, integers, real floats) or as weights
    (integers, real floats, and complex ones when ``complex_target``)."""
    if kind in ("i", "f"):
        return True
    if kind == "b":
        return constant
    return kind == "c" and complex_target and not constant


def check_fill_values(values: Any, argument: str, *, constant: bool,
                      target: Any = None) -> None:
    """Raise TypeError naming ``argument`` unless ``values`` (a scalar, an array, a tensor
    or a nested list) holds numbers that fill a tensor of dtype ``target`` (None: a real
    one) under the module's rule: as a ``constant``, or as weights.  Returns None."""
    kind = kind_of(values)
    complex_target = target is not None and kind == "c" and \
        numeric_dtype(target).kind == "c"
    if accepts(kind, constant=constant, complex_target=complex_target):
        return
    if not hasattr(values, "dtype") and not isinstance(values, (list, tuple)):
        wanted = "a real number (bool, int or float)" if constant else "a number"
        raise TypeError(f"{argument} must be {wanted}, got {type(values).__name__}")
    wanted = "numbers (bool, integers or real floats)" if constant else "numbers"
    raise TypeError(f"{argument} holds {_value_name(values)} values, not {wanted}")


def _value_name(values: Any) -> str:
    """Return the name of the dtype of ``values`` for an error message."""
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        try:
            dtype = np.asarray(values).dtype
        except (TypeError, ValueError):
            return type(values).__name__
    try:
        return dtype_name(dtype)
    except TypeError:
        return str(dtype)
