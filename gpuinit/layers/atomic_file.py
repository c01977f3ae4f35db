"""Weight files written whole or not at all."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def replaced_when_complete(path: str | os.PathLike) -> Iterator[str]:
    """Yield the name of a new temporary file next to ``path``; when the block ends
    normally it replaces ``path`` (one rename), and when it raises it is removed and
    ``path`` is left as it was.  The name is unique per call, so threads and processes
    saving the same path at once never write into each other's file."""
    target = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(target))
    # A fresh name, not a created file: the writer creates it with the usual
    # permissions (umask), which the finished file keeps.
    partial = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        yield partial
        os.replace(partial, target)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise
