"""Keras 3's ``.weights.h5`` layout: files that ``keras.Model.load_weights`` reads.

Keras 3 (``keras.src.saving.saving_lib``) stores a Sequential model's variables
in HDF5 by position, not by name: the group ``layers/<class name in snake case,
numbered per class: dense, dense_1 ...>/vars`` holds datasets ``"0"``, ``"1"``
... in the layer's variable order (trainable ones first, then the others, each
in creation order); a recurrent layer keeps its variables in its cell,
``layers/lstm/cell/vars``.  Every ``vars`` group carries a ``name`` attribute;
bfloat16 values are stored as raw 2-byte values with the attribute
``dtype="bfloat16"``.  Needs h5py.
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from ..dtypes import FORMATS, dtype_name
from .atomic_file import replaced_when_complete
from .base import Layer
from .parameter import Parameter
from .recurrent import Recurrent

# where the datasets of a Sequential model's layers live; anything else in a Keras file
# (an optimizer's state) is not the model's weights
MODEL_GROUPS = ("layers/", "vars/")


def h5py_module():
    """Return the h5py module; ImportError saying how to install it when it is missing."""
    try:
        import h5py
    except ImportError as exc:
        raise ImportError("Keras .weights.h5 files need h5py: pip install h5py "
                          "(or pip install 'gpuinit[h5]')") from exc
    return h5py


def snake_case(name: str) -> str:
    """Return a class name in snake case ("Conv2D" -> "conv2d", "SimpleRNN" ->
    "simple_rnn").  Matches ``keras.src.utils.naming.to_snake_case``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_order(layer: Layer) -> list[str]:
    """Return the names of ``layer``'s parameters in Keras' variable order: the ones declared
    trainable first, then the others, each in declaration (creation) order."""
    return sorted(layer.parameters, key=lambda key: not layer._trainable_flags[key])


def groups(model: Any) -> list[tuple[str, str, list[tuple[str, Parameter]]]]:
    """Return the ``vars`` groups Keras writes for the equivalent of ``model`` (a
    Sequential): ``(group path, its name attribute, [(our parameter path, Parameter)])``,
    the datasets of each group being ``"0"``, ``"1"`` ... in that order.  A shared
    Parameter is listed under every layer that uses it, as each Keras layer holds its
    own copy."""
    found: list[tuple[str, str, list[tuple[str, Parameter]]]] = [("vars", model.name, [])]
    used: dict[str, int] = {}
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        where = f"layers/{base}" if used[base] == 0 else f"layers/{base}_{used[base]}"
        variables = [(f"{layer.name}/{key}", layer.parameters[key])
                     for key in keras_order(layer)]
        if isinstance(layer, Recurrent):
            found.append((f"{where}/vars", layer.name, []))
            found.append((f"{where}/cell/vars", f"{base}_cell", variables))
        else:
            found.append((f"{where}/vars", layer.name, variables))
    return found


def expected(model: Any) -> dict[str, tuple[str, Parameter]]:
    """Return {dataset path: (our parameter path, Parameter)} of ``model`` in Keras' layout."""
    return {f"{group}/{index}": entry
            for group, _, variables in groups(model)
            for index, entry in enumerate(variables)}


def write(path: Any, model: Any) -> None:
    """Write ``model``'s parameters to ``path`` in Keras 3's ``.weights.h5`` layout, each
    copied to the host one at a time; returns None.  ``keras.Model.load_weights`` of the
    equivalent Keras model reads the file.  The bytes go to a temporary file next to
    ``path`` that replaces it only once complete."""
    h5py = h5py_module()
    with replaced_when_complete(path) as partial, h5py.File(partial, "w") as f:
        for where, name, variables in groups(model):
            group = f.create_group(where)
            group.attrs["name"] = name
            for index, (_, parameter) in enumerate(variables):
                dataset = group.create_dataset(str(index), data=parameter.numpy())
                if dtype_name(parameter.dtype) == "bfloat16":
                    dataset.attrs["dtype"] = "bfloat16"


def _dtype_of(dataset) -> str:
    """Return the dtype name of a dataset: "bfloat16" when Keras marked it so."""
    if dataset.attrs.get("dtype") == "bfloat16" and dataset.dtype.itemsize == 2:
        return "bfloat16"
    return dtype_name(dataset.dtype)


def read_header(path: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """Return {dataset path: (shape, dtype name)} of every dataset of a Keras weights file
    under ``layers/`` and ``vars/`` (the model's), reading no data; ValueError naming the
    file when it is not an HDF5 file."""
    h5py = h5py_module()
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file") from None
        raise ValueError(f"{path}: not an HDF5 file ({exc})") from None
    found: dict[str, tuple[tuple[int, ...], str]] = {}

    def visit(name: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset) and name.startswith(MODEL_GROUPS):
            found[name] = (tuple(int(n) for n in item.shape), _dtype_of(item))

    with f:
        f.visititems(visit)
    return found


def read_tensor(path: Any, name: str) -> np.ndarray:
    """Return the dataset ``name`` of the file at ``path`` as a NumPy array, read now
    (bfloat16 when Keras marked it so)."""
    h5py = h5py_module()
    with h5py.File(path, "r") as f:
        dataset = f[name]
        array = np.asarray(dataset[()])
        if _dtype_of(dataset) == "bfloat16":
            array = array.view(FORMATS["bfloat16"].numpy_dtype)
    return array
