"""Reading and writing the safetensors format (https://github.com/huggingface/safetensors).

The layout: an 8-byte little-endian header length N, N bytes of JSON
(``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}``,
padded with spaces so the data starts 8-byte aligned), then the raw
little-endian tensor bytes.  Files written here load with ``safetensors.numpy``
and ``safetensors.torch``, and theirs load here.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..dtypes import dtype_name

_CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
          "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint64": "U64",
          "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL"}
_NAMES = {code: name for name, code in _CODES.items()}
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
    ``get_host_array()`` is called once, when its bytes are written."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, shape, dtype, _ in entries:
        code = _CODES.get(dtype_name(dtype))
        if code is None:
            raise ValueError(f"{name}: dtype {dtype} cannot be stored in safetensors")
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(numpy_dtype(code)).itemsize
        header[name] = {"dtype": code, "shape": list(shape),
                        "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name, shape, _, get in entries:
            array = np.ascontiguousarray(get())
            if tuple(array.shape) != tuple(shape):
                raise ValueError(f"{name}: got shape {array.shape}, listed as {shape}")
            f.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())


def read_header(path: Any) -> tuple[dict[str, dict], dict[str, str], int]:
    """Return ``(tensors, metadata, data_start)`` of a safetensors file; ValueError when
    the file is not one (bad header, offsets out of order or past its end)."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
        (size,) = struct.unpack("<Q", head)
        if size > MAX_HEADER_BYTES:
            raise ValueError(f"{path}: not a safetensors file (header of {size} bytes)")
        try:
            header = json.loads(f.read(size).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: not a safetensors file ({exc})") from None
        f.seek(0, 2)
        data_bytes = f.tell() - 8 - size
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (the header is not an object)")
    metadata = header.pop("__metadata__", None) or {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        itemsize = numpy_dtype(entry["dtype"]).itemsize
        if end - begin != int(np.prod(entry["shape"], dtype=np.int64)) * itemsize \
                or not 0 <= begin <= end <= data_bytes:
            raise ValueError(f"{path}: tensor {name!r} has inconsistent data offsets")
    return header, metadata, 8 + size


def read_tensor(path: Any, entry: dict, data_start: int) -> np.ndarray:
    """Return one tensor of the file as a NumPy array (read from disk now)."""
    begin, end = entry["data_offsets"]
    dtype = numpy_dtype(entry["dtype"]).newbyteorder("<")
    with open(path, "rb") as f:
        f.seek(data_start + begin)
        raw = f.read(end - begin)
    return np.frombuffer(raw, dtype=dtype).reshape(entry["shape"])
