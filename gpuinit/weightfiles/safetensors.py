"""Reading and writing the safetensors format (https://github.com/huggingface/safetensors).

The layout: an 8-byte little-endian header length N, N bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``,
padded with spaces so the data starts 8-byte aligned), then the raw
little-endian tensor bytes.  Files written here load with ``safetensors.numpy``
and ``safetensors.torch``, and theirs load here.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..dtypes import dtype_name
from .atomic_file import replaced_when_complete

_CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
          "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64",
          "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL"}
_NAMES = {code: name for name, code in _CODES.items()}
FIELDS = frozenset({"dtype", "shape", "data_offsets"})
# A header larger than this is not a safetensors file (the reference reader's limit).
MAX_HEADER_BYTES = 100_000_000


def numpy_dtype(code: str) -> np.dtype:
    """Return the NumPy dtype of a safetensors dtype code ("F32", "BF16" ...)."""
    name = _NAMES.get(code)
    if name is None:
        raise ValueError(f"unsupported safetensors dtype {code!r}")
    if name == "bfloat16":
        from ..dtypes import BFLOAT16

        return BFLOAT16.numpy_dtype
    return np.dtype(name)


def write(path: Any, entries: list[tuple[str, tuple[int, ...], Any, Any]],
          metadata: Mapping[str, str] | None = None) -> None:
    """Write ``(name, shape, dtype, get_host_array)`` entries to ``path``; each
    ``get_host_array()`` is called once, when its bytes are written.

    The bytes go to a temporary file next to ``path`` that replaces ``path`` only
    once complete, so a failed write leaves what was at ``path`` as it was.
    """
    text = _header_bytes(entries, metadata)
    with replaced_when_complete(path) as partial, open(partial, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape, dtype, get in entries:
            f.write(_tensor_bytes(name, shape, dtype, get()))


def _header_bytes(entries: list[tuple[str, tuple[int, ...], Any, Any]],
                  metadata: Mapping[str, str] | None) -> bytes:
    """Return the header JSON of ``entries``, padded with spaces to a multiple of 8 bytes."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, shape, dtype, _ in entries:
        code = _CODES.get(dtype_name(dtype))
        if code is None:
            raise ValueError(f"{name}: dtype {dtype} cannot be stored in safetensors")
        if name == "__metadata__" or name in header:
            raise ValueError(f"{name!r}: a tensor name that is taken")
        nbytes = math.prod(shape) * numpy_dtype(code).itemsize
        header[name] = {"dtype": code, "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return text + b" " * (-len(text) % 8)


def _tensor_bytes(name: str, shape: tuple[int, ...], dtype: Any, array: Any) -> bytes:
    """Return the little-endian bytes of ``array``; ValueError when its shape or item size is
    not the one listed in the header (a uint16 view of bfloat16 bits is fine)."""
    array = np.asarray(array)  # not ascontiguousarray, which makes a 0-d array 1-d
    itemsize = numpy_dtype(_CODES[dtype_name(dtype)]).itemsize
    if tuple(array.shape) != tuple(shape) or array.dtype.itemsize != itemsize:
        raise ValueError(f"{name}: got {array.dtype} {array.shape}, listed as {dtype} "
                         f"{tuple(shape)}")
    return array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()


def read_header(path: Any) -> tuple[dict[str, dict], dict[str, str], int]:
    """Return ``(tensors, metadata, data_start)`` of a safetensors file, the whole header checked.

    ``tensors`` maps each name to ``{"dtype": code, "shape": [ints], "data_offsets":
    [begin, end]}``.  ValueError naming the file (and the tensor) unless the header
    is what the reference reader accepts: a JSON object whose entries each hold
    exactly ``dtype`` (a known code), ``shape`` (a list of ints >= 0) and
    ``data_offsets`` (two ints, ``end - begin`` the bytes of shape and dtype), the
    byte ranges tiling the data from 0 to the end of the file without gap or
    overlap, and ``__metadata__`` (optional, may be null) an object of strings.
    """
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (size,) = struct.unpack("<Q", head)
        if size > MAX_HEADER_BYTES:
            raise ValueError(f"{path}: not a safetensors file (header of {size} bytes)")
        text = f.read(size)
        if len(text) != size:
            raise ValueError(f"{path}: not a safetensors file (the header should have {size} "
                             f"bytes, the file has {len(text)} after the length)")
        f.seek(0, 2)
        data_bytes = f.tell() - 8 - size
    header = _parse_json(path, text)
    metadata = _check_metadata(path, header.pop("__metadata__", None))
    tensors = {name: check_entry(path, name, entry) for name, entry in header.items()}
    check_layout(path, tensors, data_bytes)
    return tensors, metadata, 8 + size


class _DuplicateKey(ValueError):
    """A JSON object of the header names one key twice."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Return ``dict(pairs)``; _DuplicateKey when a key appears twice."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(f"the key {key!r} appears twice")
        found[key] = value
    return found


def _parse_json(path: Any, text: bytes) -> dict:
    """Return the header JSON object; ValueError naming ``path`` when it is not one."""
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, _DuplicateKey) as exc:
        raise ValueError(f"{path}: not a safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (the header is a JSON "
                         f"{type(header).__name__}, not an object)")
    return header


def _check_metadata(path: Any, metadata: Any) -> dict[str, str]:
    """Return ``__metadata__`` ({} when absent or null); ValueError unless it maps str to str."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError(f"{path}: __metadata__ must be an object of strings, got {metadata!r}")
    return metadata


def _is_count(value: Any) -> bool:
    """Return True for an int >= 0 that is not a bool (JSON floats such as 4.0 are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def check_entry(path: Any, name: str, entry: Any) -> dict:
    """Return the header entry of tensor ``name`` after checking it on its own: exactly
    ``dtype``, ``shape`` and ``data_offsets``, of the right types, the offsets spanning
    the bytes that shape and dtype need.  ValueError naming the file and the tensor."""
    where = f"{path}: tensor {name!r}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: the entry must be an object with dtype, shape and "
                         f"data_offsets, got {type(entry).__name__}")
    missing, extra = sorted(FIELDS - set(entry)), sorted(set(entry) - FIELDS)
    if missing or extra:
        raise ValueError(f"{where}: the entry must hold exactly {sorted(FIELDS)}; missing "
                         f"{missing}, unexpected {extra}")
    code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(code, str) or code not in _NAMES:
        raise ValueError(f"{where}: unknown dtype {code!r}; known: {', '.join(_NAMES)}")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise ValueError(f"{where}: shape {shape!r} must be a list of integers >= 0")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets)):
        raise ValueError(f"{where}: data_offsets {offsets!r} must be two integers >= 0")
    begin, end = offsets
    nbytes = math.prod(shape) * numpy_dtype(code).itemsize
    if end < begin or end - begin != nbytes:
        raise ValueError(f"{where}: data_offsets {offsets} span {end - begin} bytes; "
                         f"shape {shape} of {code} needs {nbytes}")
    return {"dtype": code, "shape": list(shape), "data_offsets": [begin, end]}


def check_layout(path: Any, tensors: dict[str, dict], data_bytes: int) -> None:
    """Raise ValueError naming the file and the tensor unless the byte ranges of
    ``tensors`` (checked entries), taken in order, tile ``[0, data_bytes)``: each one
    starts where the previous one ends, and the last one ends at the end of the file."""
    position, previous = 0, None
    for name, entry in sorted(tensors.items(), key=lambda item: item[1]["data_offsets"]):
        begin, end = entry["data_offsets"]
        where = f"{path}: tensor {name!r} (data_offsets {[begin, end]})"
        if end > data_bytes:
            raise ValueError(f"{where} runs past the end of the data ({data_bytes} bytes)")
        if begin < position:
            raise ValueError(f"{where} overlaps tensor {previous!r}, which ends at {position}")
        if begin > position:
            raise ValueError(f"{where} leaves a gap: the bytes before it end at {position}")
        position, previous = end, name
    if position != data_bytes:
        raise ValueError(f"{path}: {data_bytes - position} bytes at the end of the data belong "
                         "to no tensor")


def read_tensor(path: Any, entry: dict, data_start: int, name: str | None = None) -> np.ndarray:
    """Return one tensor (an entry of :func:`read_header`, named ``name``) as a NumPy array,
    read from disk now; ValueError naming the file (and the tensor) when the file has
    fewer bytes than the entry needs (it changed)."""
    begin, end = entry["data_offsets"]
    dtype = numpy_dtype(entry["dtype"]).newbyteorder("<")
    with open(path, "rb") as f:
        f.seek(data_start + begin)
        raw = f.read(end - begin)
    if len(raw) != end - begin:
        where = "a tensor" if name is None else f"tensor {name!r}"
        raise ValueError(f"{path}: the file ends inside {where} (it changed while read)")
    return np.frombuffer(raw, dtype=dtype).reshape(entry["shape"])
