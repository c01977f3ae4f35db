"""Keras 3's ``.weights.h5`` files: what ``keras.Model.load_weights`` reads.

Keras 3 (``keras.src.saving.saving_lib``) stores a model's variables in HDF5 by
position, not by name: each ``vars`` group (``layers/dense/vars``,
``layers/lstm/cell/vars`` ...) holds datasets ``"0"``, ``"1"`` ... and carries a
``name`` attribute; bfloat16 values are stored as raw 2-byte values with the
attribute ``dtype="bfloat16"``.  Which groups a model has is the model's to say
(:class:`gpuinit.weightfiles.protocols.KerasGroup`, from ``model.keras_groups()``);
this module writes and reads them.  Needs h5py.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

import numpy as np

from ..dtypes import FORMATS, dtype_name
from .atomic_file import replaced_when_complete
from .protocols import KerasGroup, ParameterLike

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


def expected(groups: list[KerasGroup]) -> dict[str, tuple[str, ParameterLike]]:
    """Return {dataset path: (our parameter path, parameter)} of the Keras ``groups`` of a
    model, the datasets of each group being ``"0"``, ``"1"`` ... in their order."""
    return {f"{group}/{index}": entry
            for group, _, variables in groups
            for index, entry in enumerate(variables)}


def write(path: Any, groups: list[KerasGroup]) -> None:
    """Write the parameters of a model's Keras ``groups`` to ``path`` in Keras 3's
    ``.weights.h5`` layout, each
    copied to the host one at a time; returns None.  ``keras.Model.load_weights`` of the
    equivalent Keras model reads the file.  The bytes go to a temporary file next to
    ``path`` that replaces it only once complete.

    A write the file system refuses (a full disk, a file size limit) is an OSError
    naming ``path``, raised after HDF5 has closed the file cleanly: HDF5 itself never
    sees the failure (see :class:`_FailSafeFile`), since a failed write leaves HDF5's
    handles in a state in which releasing them crashes the interpreter.  The previous
    file at ``path`` is left as it was and the temporary file is removed."""
    h5py = h5py_module()
    with replaced_when_complete(path) as partial:
        _write_file(h5py, partial, groups)


class _FailSafeFile:
    """The file object HDF5 writes through (h5py's ``fileobj`` driver): it passes reads and
    writes to the file at ``path`` until the file system refuses one, keeps that OSError in
    ``error`` and from then on accepts every write without storing it, so that HDF5
    finishes and closes the file as if nothing happened; the caller then raises
    ``error``.  Positions and the file's size are kept here, not asked of the file."""

    def __init__(self, path: str):
        self.file = open(path, "w+b")  # noqa: SIM115 - closed by close()
        self.error: OSError | None = None
        self.position = 0
        self.size = 0

    def _failed(self, exc: OSError) -> None:
        if self.error is None:
            self.error = exc.with_traceback(None)  # no frame holding HDF5's buffers

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self.position, os.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def write(self, data: Any) -> int:
        count = memoryview(data).nbytes
        if self.error is None:
            try:
                self.file.seek(self.position)
                self.file.write(data)
            except OSError as exc:
                self._failed(exc)
        self.position += count
        self.size = max(self.size, self.position)
        return count

    def readinto(self, buffer: Any) -> int:
        if self.error is not None:
            return 0  # the driver fills what was not read with zeros
        try:
            self.file.seek(self.position)
            count = self.file.readinto(buffer) or 0
        except OSError as exc:
            self._failed(exc)
            return 0
        self.position += count
        return count

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self.size - self.position, 0)
        buffer = bytearray(size)
        return bytes(buffer[:self.readinto(buffer)])

    def truncate(self, size: int | None = None) -> int:
        size = self.position if size is None else size
        if self.error is None:
            try:
                self.file.truncate(size)
            except OSError as exc:
                self._failed(exc)
        self.size = size
        return size

    def flush(self) -> None:
        if self.error is None:
            try:
                self.file.flush()
            except OSError as exc:
                self._failed(exc)

    def close(self) -> None:
        try:
            self.file.close()
        except OSError as exc:
            self._failed(exc)


def _write_file(h5py: Any, partial: str, groups: list[KerasGroup]) -> None:
    """Write ``groups`` to the new file ``partial``; every h5py object is
    released and the file closed before any exception leaves (an OSError of the file
    system first of all)."""
    sink = _FailSafeFile(partial)
    try:
        try:
            f = h5py.File(sink, "w")
        except BaseException as exc:
            traceback.clear_frames(exc.__traceback__)
            raise
        try:
            for where, name, variables in groups:
                _write_group(f, where, name, variables)
        except BaseException as exc:
            # No Group or Dataset may outlive the file in a frame of the traceback.
            traceback.clear_frames(exc.__traceback__)
            if sink.error is None or not isinstance(exc, Exception):
                raise
        finally:
            f.close()
            del f
    finally:
        sink.close()
    if sink.error is not None:
        raise sink.error


def _write_group(f: Any, where: str, name: str,
                 variables: list[tuple[str, ParameterLike]]) -> None:
    """Write one ``vars`` group; its Group and Dataset objects are released on return."""
    group = f.create_group(where)
    group.attrs["name"] = name
    for index, (_, parameter) in enumerate(variables):
        dataset = group.create_dataset(str(index), data=parameter.numpy())
        if dtype_name(parameter.dtype) == "bfloat16":
            dataset.attrs["dtype"] = "bfloat16"
        del dataset
    del group


def _dtype_of(dataset) -> str:
    """Return the dtype name of a dataset: "bfloat16" when Keras marked it so."""
    if dataset.attrs.get("dtype") == "bfloat16" and dataset.dtype.itemsize == 2:
        return "bfloat16"
    return dtype_name(dataset.dtype)


# What h5py raises for a damaged file: HDF5's errors arrive as OSError, RuntimeError
# ("Object specific failed (message not aligned)"), KeyError ("Unable to synchronously
# open object (invalid dataset size, likely file corruption)") or ValueError (a datatype
# NumPy cannot represent).
DAMAGE = (OSError, RuntimeError, KeyError, ValueError, TypeError, OverflowError)


def _damaged(path: Any, exc: BaseException, tensor: str | None = None) -> ValueError:
    """Return the ValueError of a damaged file: it names ``path`` (and ``tensor``) and says
    what HDF5 said, on one line."""
    where = f"{path}: " if tensor is None else f"{path}: tensor {tensor!r}"
    said = " ".join(f"{type(exc).__name__}: {exc}".split())
    if tensor is None:
        return ValueError(f"{where}not a readable Keras weights file, it is damaged ({said})")
    return ValueError(f"{where} cannot be read, the file is damaged ({said})")


def read_header(path: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """Return {dataset path: (shape, dtype name)} of every dataset of a Keras weights file
    under ``layers/`` and ``vars/`` (the model's), reading no data; ValueError naming the
    file when it is not an HDF5 file or its metadata is damaged."""
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

    try:
        with f:
            f.visititems(visit)
    except DAMAGE as exc:
        error = _damaged(path, exc)
        traceback.clear_frames(exc.__traceback__)  # no h5py object outlives the file
        raise error from None
    return found


def read_tensor(path: Any, name: str) -> np.ndarray:
    """Return the dataset ``name`` of the file at ``path`` as a NumPy array, read now
    (bfloat16 when Keras marked it so); ValueError naming the file and the dataset when
    the file is damaged there or the dataset is missing."""
    h5py = h5py_module()
    try:
        with h5py.File(path, "r") as f:
            array = _read_dataset(f, name)
    except DAMAGE as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise  # gone, or not ours to read: not damaged
        error = _damaged(path, exc, name)
        traceback.clear_frames(exc.__traceback__)
        raise error from None
    return array


def _read_dataset(f: Any, name: str) -> np.ndarray:
    dataset = f[name]
    array = np.asarray(dataset[()])
    if _dtype_of(dataset) == "bfloat16":
        array = array.view(FORMATS["bfloat16"].numpy_dtype)
    return array
