"""What the weight files need of a model and of its parameters (structural types).

:mod:`gpuinit.weightfiles` never imports the layers: a model (``Sequential``) and its
parameters (``Parameter``) are passed in and used through these protocols.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np


class ParameterLike(Protocol):
    """A built parameter: its shape and dtype, a host copy of its values, and an
    all-or-nothing write (``staged`` checks and converts, ``write`` stores)."""

    @property
    def shape(self) -> tuple[int, ...] | None: ...

    @property
    def dtype(self) -> np.dtype | None: ...

    def numpy(self) -> np.ndarray: ...

    def staged(self, values: Any, argument: str = "values") -> Any: ...

    def write(self, staged: Any) -> None: ...


# One Keras ``vars`` group: (its path, its ``name`` attribute, [(parameter path, parameter)]).
KerasGroup = tuple[str, str, list[tuple[str, ParameterLike]]]


class WeightSource(Protocol):
    """A model whose parameters are saved and loaded: ``parameters`` by path
    ("dense/weight"), the ``seed`` it was made with, and the ``vars`` groups Keras 3
    keeps its variables in (:mod:`gpuinit.weightfiles.keras_h5`)."""

    @property
    def parameters(self) -> Mapping[str, ParameterLike]: ...

    @property
    def seed(self) -> Any: ...

    def keras_groups(self) -> list[KerasGroup]: ...
