"""Weight files written whole or not at all."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def error_naming(path: str | os.PathLike, exc: OSError,
                 action: str = "cannot write the file") -> OSError:
    """Return an OSError like ``exc`` (same errno, hence the same subclass:
    PermissionError, FileNotFoundError ...) whose message and ``filename`` name ``path``,
    the file the user asked for, not a temporary file or nothing at all (a full disk's
    ``[Errno 27] File too large`` names no file): ``str()`` reads "[Errno 27] cannot
    write the file: File too large: 'm.npz'"."""
    target = os.fspath(path)
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = " ".join(str(reason).split())  # one line (HDF5's messages span several)
    if exc.errno is None:
        return OSError(f"{action} {target}: {reason}")
    return OSError(exc.errno, f"{action}: {reason}", target)


@contextmanager
def replaced_when_complete(path: str | os.PathLike) -> Iterator[str]:
    """Yield the name of a new temporary file next to ``path``; when the block ends
    normally it replaces ``path`` (one rename), and when it raises it is removed and
    ``path`` is left as it was.  The name is unique per call, so threads and processes
    saving the same path at once never write into each other's file.

    An OSError of the block or of the rename (a full disk, a read-only folder, ``path``
    a directory) is raised again as an OSError of the same errno naming ``path`` (see
    :func:`error_naming`), chained to the original."""
    target = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(target))
    # A fresh name, not a created file: the writer creates it with the usual
    # permissions (umask), which the finished file keeps.
    partial = os.path.join(directory, f".{name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        yield partial
        os.replace(partial, target)
    except BaseException as exc:
        try:
            if os.path.lexists(partial):
                os.remove(partial)
        except OSError:
            pass  # the error that matters is the one being raised
        if isinstance(exc, OSError):
            raise error_naming(target, exc) from exc
        raise
