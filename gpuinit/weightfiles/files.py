"""Saving and loading a model's weight files (``Sequential.save_weights``/``load_weights``),
the format picked by the file name, as Keras picks it.

- ``.safetensors``: safetensors, tensors keyed by parameter path ("dense/weight").
- ``.npz``: NumPy's ``savez`` layout, arrays keyed by parameter path.
- ``.weights.h5``: Keras 3's layout (by layer position), read by ``keras.Model.load_weights``
  of the equivalent Keras model; needs h5py.

Any other name is refused (ValueError naming the path and these extensions), so a
file is never written in a format its name does not say.  Every reader lists the
file's tensors (names, shapes, dtypes) before any data is read, so that
:func:`load` checks all of them before anything is written.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ..dtypes import dtype_name
from ..fill_values import accepts, dtype_kind
from . import keras_h5, npz, safetensors
from .atomic_file import error_naming
from .protocols import ParameterLike, WeightSource

SUFFIXES = (".safetensors", ".npz", ".weights.h5")


def format_of(path: Any) -> str:
    """Return the suffix of ``path`` that names its format (one of :data:`SUFFIXES`);
    ValueError naming the path and the supported extensions otherwise (a plain ``.h5``
    or ``.keras`` included: Keras 3 weight files end in ``.weights.h5``)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"a weight file path must be a str or os.PathLike, got "
                        f"{type(path).__name__}")
    name = str(os.fspath(path))
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    hint = ""
    if name.endswith((".h5", ".hdf5", ".keras")):
        hint = " (Keras 3 weight files end in .weights.h5)"
    raise ValueError(f"{path}: unknown weight file extension{hint}; supported extensions: "
                     f"{', '.join(SUFFIXES)}")


# -- saving -------------------------------------------------------------------------
def _entries(model: WeightSource) -> list[tuple[str, tuple[int, ...], Any, Any]]:
    return [(key, p.shape, p.dtype, p.numpy) for key, p in model.parameters.items()]


def _save_safetensors(model: WeightSource, path: Any) -> None:
    safetensors.write(path, _entries(model), {"format": "gpuinit", "seed": str(model.seed)})


def _save_npz(model: WeightSource, path: Any) -> None:
    npz.write(path, _entries(model))


def _save_keras_h5(model: WeightSource, path: Any) -> None:
    keras_h5.write(path, model.keras_groups())


SAVERS: dict[str, Callable[[WeightSource, Any], None]] = {
    ".safetensors": _save_safetensors, ".npz": _save_npz, ".weights.h5": _save_keras_h5}


def save(model: WeightSource, path: Any) -> None:
    """Write ``model``'s parameters to ``path`` in the format its extension names; returns
    None.  Each parameter is copied to the host one at a time.

    Errors of the file system name ``path`` (not the temporary file the writer fills
    before it renames it): FileNotFoundError when its directory does not exist,
    IsADirectoryError when ``path`` is a directory, checked before anything is written;
    any other OSError (a full disk, a read-only folder) is an OSError of the same errno
    naming ``path``, raised once the temporary file is removed and ``path`` is as it was.
    """
    suffix = format_of(path)
    name = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"cannot write the weight file: its directory "
                                f"{folder} does not exist", name)
    if os.path.isdir(name):
        raise IsADirectoryError(errno.EISDIR, "cannot write the weight file: it is a "
                                "directory", name)
    try:
        SAVERS[suffix](model, path)
    except OSError as exc:
        # A full disk ("[Errno 27] File too large", no file named), a read-only folder
        # (the temporary file named): the error names the file the caller gave.
        if exc.filename is not None and os.fspath(exc.filename) == name:
            raise
        raise error_naming(name, exc, "cannot write the weight file") from exc


# -- loading ------------------------------------------------------------------------
class Listing:
    """What a weight file holds and how it maps to a model.

    ``tensors``: {key in the file: (shape, dtype name)}, from the file's header;
    ``wanted``: {key in the file: (parameter path, Parameter)} for the model;
    ``read(key)``: the NumPy array of one key, read from disk when called.
    """

    def __init__(self, tensors: dict[str, tuple[tuple[int, ...], str]],
                 wanted: dict[str, tuple[str, ParameterLike]], read: Callable[[str], np.ndarray]):
        self.tensors, self.wanted, self.read = tensors, wanted, read

    def label(self, key: str) -> str:
        """Return how errors name ``key``: "tensor 'dense/weight'", or for a positional key
        "tensor 'layers/dense/vars/0' (dense/weight)"."""
        path = self.wanted[key][0]
        return f"tensor {key!r}" if path == key else f"tensor {key!r} ({path})"


def _by_path(model: WeightSource) -> dict[str, tuple[str, ParameterLike]]:
    return {key: (key, p) for key, p in model.parameters.items()}


def _list_safetensors(model: WeightSource, path: Any) -> Listing:
    header, _, start = safetensors.read_header(path)
    tensors = {key: (tuple(entry["shape"]),
                     dtype_name(safetensors.numpy_dtype(entry["dtype"])))
               for key, entry in header.items()}
    return Listing(tensors, _by_path(model),
                   lambda key: safetensors.read_tensor(path, header[key], start, key))


def _list_npz(model: WeightSource, path: Any) -> Listing:
    return Listing(npz.read_header(path), _by_path(model), lambda key: npz.read_tensor(path, key))


def _list_keras_h5(model: WeightSource, path: Any) -> Listing:
    return Listing(keras_h5.read_header(path), keras_h5.expected(model.keras_groups()),
                   lambda key: keras_h5.read_tensor(path, key))


LISTERS: dict[str, Callable[[WeightSource, Any], Listing]] = {
    ".safetensors": _list_safetensors, ".npz": _list_npz, ".weights.h5": _list_keras_h5}


def _is_number_dtype(name: str) -> bool:
    """Return True for the dtypes of a file's tensors that load as weights (the rule of
    :mod:`gpuinit.fill_values`: integers and real floats)."""
    return accepts(dtype_kind(name), constant=False)


def check_fits(path: Any, listing: Listing, cast: bool) -> None:
    """Raise ValueError naming ``path`` and the tensor unless the file holds exactly the
    keys the model wants, of the parameters' shapes and dtypes (or, with ``cast``, any
    dtype of numbers).  Returns None."""
    missing = sorted(set(listing.wanted) - set(listing.tensors))
    extra = sorted(set(listing.tensors) - set(listing.wanted))
    if missing or extra:
        raise ValueError(f"{path} does not fit the model: missing {missing}, "
                         f"unexpected {extra}")
    for key, (label, parameter) in listing.wanted.items():
        shape, found = listing.tensors[key]
        if shape != parameter.shape:
            where = label if label == key else f"{label} ({key})"
            raise ValueError(f"{path}: {where} has shape {shape}, the model's has "
                             f"{parameter.shape}")
        if found == "bool":
            raise ValueError(f"{path}: {listing.label(key)} holds booleans, not numbers")
        if not _is_number_dtype(found):
            raise ValueError(f"{path}: {listing.label(key)} holds {found} values, not numbers")
        if found != dtype_name(parameter.dtype) and not cast:
            raise ValueError(f"{path}: {listing.label(key)} is {found} in the file, the "
                             f"model's {label} is {dtype_name(parameter.dtype)}; pass "
                             "cast=True to convert it")


def load(model: WeightSource, path: Any, cast: bool) -> None:
    """Read ``model``'s parameters from ``path`` (format by extension), all or nothing;
    returns None.

    ValueError naming ``path`` when it is a directory (every format alike), does not
    fit or is damaged (a ``.npz`` whose CRC, deflate stream or member length is wrong, a
    ``.weights.h5`` whose HDF5 metadata cannot be read: the message names the tensor
    where it is known); FileNotFoundError when it does not exist.
    The file's listing is checked first (:func:`check_fits`), then every tensor is
    read into host memory and converted; only then is anything written.  A file
    replaced while it is read (a save to the same path finished meanwhile) is a
    ValueError and loads nothing: its tensors could come from two files.  In a Keras
    file a shared Parameter is stored once per layer that uses it; the copies must
    hold the same values.
    """
    suffix = format_of(path)
    if os.path.isdir(os.fspath(path)):
        raise ValueError(f"{path}: is a directory, not a weight file")
    # Held open for the whole read, so that its file keeps its identity: a save to the
    # same path that lands meanwhile (an atomic rename) is seen below, and nothing loaded.
    with open(os.fspath(path), "rb") as held:
        opened = os.fstat(held.fileno())
        listing = LISTERS[suffix](model, path)
        check_fits(path, listing, cast)
        staged: dict[int, tuple[str, ParameterLike, Any]] = {}
        for key, (_, parameter) in listing.wanted.items():
            values = parameter.staged(listing.read(key), f"{path}: {listing.label(key)}")
            first = staged.get(id(parameter))
            if first is None:
                staged[id(parameter)] = (key, parameter, values)
            elif np.asarray(first[2]).tobytes() != np.asarray(values).tobytes():
                raise ValueError(f"{path}: {listing.label(key)} and {listing.label(first[0])} "
                                 "hold one shared parameter with different values")
        if not _same_file(opened, path):
            raise ValueError(f"{path} was replaced while it was read (a save to it finished "
                             "meanwhile), so its tensors may come from two files: nothing "
                             "was loaded; load it again")
    for _, parameter, values in staged.values():
        parameter.write(values)


def _same_file(opened: os.stat_result, path: Any) -> bool:
    """Return True when ``path`` still names the file ``opened`` describes (same device,
    inode, size and modification time)."""
    try:
        now = os.stat(os.fspath(path))
    except OSError:  # removed meanwhile
        return False
    return ((now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns)
            == (opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns))
