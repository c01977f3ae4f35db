"""Preparing a compiled CPU loop without making anyone wait for it.

A loop is loaded from Numba's on-disk cache in about a second, or compiled in tens
of seconds of mostly pure-Python work.  :class:`PreparedLoop` does either in the
background while the NumPy target serves: a first compile runs in a separate,
low-priority Python process (in this one it would hold the interpreter lock
against the thread filling arrays), which leaves the loop in the on-disk cache
even if this process ends first; then a thread of this process loads it.  One
process at a time compiles a given loop (an exclusive lock file), the others wait
for it, and a marker left beside the lock tells later processes that the cache
holds the loop, so they load it directly.

``GPUINIT_CPU_LOOPS`` chooses the policy (:func:`loop_mode`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

# "background" (the default): prepare a format's loop in the background on its first
# fill; "numpy": never compile the formats the NumPy target computes (short-lived
# processes, CI); "wait": prepare the loop before the first fill (steady-state
# benchmarks).
LOOP_MODES = ("background", "numpy", "wait")


def loop_mode() -> str:
    """Return the GPUINIT_CPU_LOOPS mode (one of :data:`LOOP_MODES`); ValueError naming
    the variable for any other value."""
    mode = os.environ.get("GPUINIT_CPU_LOOPS", "background").strip().lower() or "background"
    if mode not in LOOP_MODES:
        raise ValueError(f"GPUINIT_CPU_LOOPS must be one of {', '.join(LOOP_MODES)}, "
                         f"not {mode!r}")
    return mode


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _lock_path(name: str, fingerprint: int) -> Path:
    """Return the lock file of one loop: one per (Numba cache folder, package folder,
    interpreter, kernel sources), in NUMBA_CACHE_DIR or the temporary folder."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        numba_version = version("numba")
    except PackageNotFoundError:
        numba_version = ""
    identity = "\n".join([os.environ.get("NUMBA_CACHE_DIR", ""), _package_root(),
                          sys.version, numba_version, str(fingerprint), name])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:20]
    folder = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        tempfile.gettempdir(), f"gpuinit-{os.getuid() if hasattr(os, 'getuid') else 0}")
    return Path(folder) / f"gpuinit-loop-{digest}.lock"


@contextlib.contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on ``path`` within the block (waiting for it), where the
    platform has ``fcntl``; elsewhere, and when the folder cannot be written, no lock."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 (held for the block)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


def prepare_in_child(code: str) -> bool:
    """Run ``code`` (Python that prepares a loop; gpuinit is importable) in a separate
    low-priority Python process; return whether it succeeded."""
    if not sys.executable:
        return False
    code = ("import os, sys\n"
            "if hasattr(os, 'nice'): os.nice(10)\n"
            f"sys.path.insert(0, {_package_root()!r})\n"
            f"{code}\n")
    try:
        done = subprocess.run([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=3600, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


class PreparedLoop:
    """A compiled loop (a Numba dispatcher with ``cache=True``, compiled for one
    signature) and its preparation.

    ``make()`` returns (dispatcher, signature); it is called when the loop is first
    prepared, so that making a PreparedLoop imports nothing.  ``child_code`` is
    Python that prepares the same loop in a fresh process (its :meth:`prepare`
    there), which leaves it in the on-disk cache.
    """

    def __init__(self, name: str, make, child_code: str) -> None:
        self.name = name
        self.child_code = child_code
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._make = make
        self._dispatcher = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def dispatcher(self):
        """The Numba dispatcher (made on first use: this imports Numba)."""
        with self._lock:
            return self._made()[0]

    def _made(self):
        if self._dispatcher is None:
            self._dispatcher, self._signature = self._make()
        return self._dispatcher, self._signature

    def prepare(self) -> None:
        """Load or compile the loop in this thread; returns when it is ready, or raises
        what the compiler raised."""
        with self._lock:
            if not self.ready.is_set():
                try:
                    dispatcher, signature = self._made()
                    dispatcher.compile(signature)
                    self._mark_cached()
                except BaseException as exc:
                    self.error = exc
                finally:
                    self.ready.set()
        if self.error is not None:
            raise self.error

    def _marker(self) -> Path:
        from ._twin import SOURCE_FINGERPRINT

        return _lock_path(self.name, SOURCE_FINGERPRINT).with_suffix(".ready")

    def _mark_cached(self) -> None:
        """Leave the marker that tells later processes the disk cache holds the loop."""
        with contextlib.suppress(OSError):
            marker = self._marker()
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()

    def start(self) -> None:
        """Start preparing the loop in the background (once per process)."""
        with self._lock:
            if self._thread is None and not self.ready.is_set():
                self._thread = threading.Thread(target=self._prepare_in_background,
                                                daemon=True, name=f"gpuinit-{self.name}")
                self._thread.start()

    def usable(self) -> bool:
        """Return whether the loop is ready to run (prepared without error)."""
        return self.ready.is_set() and self.error is None

    def _prepare_in_background(self) -> None:
        marker = self._marker()
        with _exclusive(marker.with_suffix(".lock")):
            if not marker.exists():
                prepare_in_child(self.child_code)  # leaves the marker when it succeeds
        # From the disk cache now (or compiled here, if the other process failed).  An
        # error stays in self.error, and the NumPy target keeps serving.
        with contextlib.suppress(BaseException):
            self.prepare()
