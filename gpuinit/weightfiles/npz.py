"""Reading and writing NumPy's ``.npz`` format, the layout of ``numpy.savez``.

A ``.npz`` file is a zip archive (stored, not compressed) with one ``<name>.npy``
member per array; ``numpy.load(path)[name]`` reads it back.  Files written here
are what ``numpy.savez(path, **arrays)`` writes, one array at a time (so saving a
model on the GPU needs one host copy at a time), and any file ``numpy.savez``
wrote can be read here.  A bfloat16 array is stored as ``numpy.savez`` stores an
``ml_dtypes.bfloat16`` array: two raw bytes per value (dtype ``'<V2'``); a member
of that dtype is read back as bfloat16.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from ..dtypes import FORMATS, dtype_name
from .atomic_file import replaced_when_complete


def _bfloat16() -> np.dtype:
    return FORMATS["bfloat16"].numpy_dtype


def write(path: Any, entries: list[tuple[str, tuple[int, ...], Any, Any]]) -> None:
    """Write ``(name, shape, dtype, get_host_array)`` entries to ``path`` as ``numpy.savez``
    would; each ``get_host_array()`` is called once, when its member is written.  Returns
    None.

    ValueError when a name is used twice or an array's shape or dtype is not the one
    listed.  The bytes go to a temporary file next to ``path`` that replaces it only
    once complete, so a failed write leaves what was at ``path`` as it was.
    """
    names = [name for name, *_ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: the array name {_first_repeat(names)!r} is used twice")
    with replaced_when_complete(path) as partial, zipfile.ZipFile(
            partial, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, shape, dtype, get in entries:
            array = _checked(name, shape, dtype, get())
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def _first_repeat(names: list[str]) -> str:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    raise AssertionError("no name repeats")


def _checked(name: str, shape: tuple[int, ...], dtype: Any, array: Any) -> np.ndarray:
    """Return ``array`` as a NumPy array; ValueError when its shape or dtype is not the one
    listed for ``name``."""
    array = np.asarray(array)
    if tuple(array.shape) != tuple(shape) or dtype_name(array.dtype) != dtype_name(dtype):
        raise ValueError(f"{name}: got {array.dtype} {array.shape}, listed as {dtype} "
                         f"{tuple(shape)}")
    return array


def file_dtype(dtype: np.dtype) -> str:
    """Return the dtype name of a member's dtype: "bfloat16" for the raw 2-byte values
    ``numpy.savez`` writes for ``ml_dtypes.bfloat16``, else NumPy's name ("float32",
    "bool", "void32" ...)."""
    if dtype.kind == "V" and dtype.itemsize == 2 and dtype.fields is None:
        return "bfloat16"
    return dtype_name(dtype)


# What a damaged archive raises while it is read: a bad CRC or zip structure
# (BadZipFile), a corrupt deflate stream (zlib.error), a member that ends early
# (EOFError, or NumPy's "EOF: reading array data" ValueError), an unknown compression
# (NotImplementedError), an encrypted member (RuntimeError), a bad header (struct.error),
# an offset past any file (OSError EINVAL from seek).  A file that is gone or may not be
# read is not damaged: FileNotFoundError and PermissionError are raised as they are.
DAMAGE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError,
          RuntimeError, struct.error, KeyError, OverflowError, OSError)
NOT_DAMAGE = (FileNotFoundError, PermissionError)


def read_header(path: Any) -> dict[str, tuple[tuple[int, ...], str]]:
    """Return {name: (shape, dtype name)} of every array in the ``.npz`` at ``path``, read
    from the members' ``.npy`` headers only (no array data).

    ValueError naming the file (and the member) when it is not a zip archive, a member
    is not a ``.npy`` array or is listed twice, or a header cannot be read (an object
    array that would need pickle, a damaged archive included).
    """
    try:
        archive = zipfile.ZipFile(path)
    except DAMAGE as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"{path}: not a .npz file ({exc})") from None
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                raise ValueError(f"{path}: member {info.filename!r} is not a .npy array")
            name = info.filename[:-len(".npy")]
            if name in found:
                raise ValueError(f"{path}: the array {name!r} is stored twice")
            shape, dtype = _member_header(path, archive, info, name)
            found[name] = (shape, file_dtype(dtype))
    return found


def _member_header(path: Any, archive: zipfile.ZipFile, info: zipfile.ZipInfo,
                   name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Return (shape, dtype) of one member; ValueError naming the file and the array when
    the archive is damaged there."""
    try:
        member = archive.open(info)
    except DAMAGE as exc:
        if isinstance(exc, NOT_DAMAGE):
            raise
        raise ValueError(f"{path}: array {name!r} cannot be read, the file is damaged "
                         f"({type(exc).__name__}: {exc})") from exc
    with member:
        return _npy_header(path, name, member)


def _npy_header(path: Any, name: str, member) -> tuple[tuple[int, ...], np.dtype]:
    """Return (shape, dtype) from the header of one ``.npy`` member; ValueError naming the
    file and the array when it is not one or would need pickle."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f".npy format version {version} is not supported")
    except DAMAGE as exc:
        if isinstance(exc, NOT_DAMAGE):
            raise
        raise ValueError(f"{path}: array {name!r} is not a readable .npy array "
                         f"({type(exc).__name__}: {exc})") from None
    if dtype.hasobject:
        raise ValueError(f"{path}: array {name!r} holds Python objects, not numbers")
    return tuple(int(n) for n in shape), dtype


def read_tensor(path: Any, name: str) -> np.ndarray:
    """Return the array ``name`` of the ``.npz`` at ``path``, read from disk now (bfloat16
    for raw 2-byte members, see :func:`file_dtype`); never unpickles.

    ValueError naming the file and the array when the archive is damaged (a CRC that
    does not match, a corrupt deflate stream, a member shorter than its header says) or
    the member is missing; FileNotFoundError when the file is gone."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{name}.npy") as member:
            array = np.lib.format.read_array(member, allow_pickle=False)
    except DAMAGE as exc:
        if isinstance(exc, NOT_DAMAGE):
            raise
        raise ValueError(f"{path}: array {name!r} cannot be read, the file is damaged "
                         f"({type(exc).__name__}: {exc})") from exc
    if file_dtype(array.dtype) == "bfloat16" and array.dtype.kind == "V":
        array = array.view(_bfloat16())
    return array
