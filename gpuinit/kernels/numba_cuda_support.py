"""numba-cuda's compiler, loaded under every NumPy that gpuinit supports.

numba-cuda (0.22 through 0.30.4 at least) registers an overload of ``np.row_stack``
when its array typing module is first imported, which happens inside the first
compile.  NumPy 2.5 removed that alias of ``np.vstack``, so with NumPy 2.5 every
CUDA compile raised ``AttributeError: module 'numpy' has no attribute 'row_stack'``
while ``import numba.cuda`` still succeeded.  :func:`load_compiler` imports that
module once with the alias present for the import only, then removes it again, so
NumPy is left exactly as it was found and numba-cuda's registries are complete.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_loaded = False


def load_compiler() -> None:
    """Import numba-cuda's array typing (what every CUDA compile needs); returns None.

    Raises whatever the import raises (ImportError, AttributeError) when this
    numba-cuda cannot compile kernels next to the installed NumPy; callers turn that
    into a reason CUDA is not usable.  Not needed, and not called, in the simulator.
    """
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        import numpy

        missing = "row_stack" not in numpy.__dict__
        if missing:
            numpy.row_stack = numpy.vstack
        try:
            import numba.cuda.np.arrayobj  # noqa: F401
        finally:
            if missing:
                del numpy.row_stack
        _loaded = True


def compiler_problem() -> str | None:
    """Return why numba-cuda cannot compile kernels here, or None when it can."""
    try:
        load_compiler()
    except Exception as exc:  # a numba-cuda release that no longer loads beside this NumPy
        import numpy

        try:
            from importlib.metadata import version

            numba_cuda = version("numba-cuda")
        except Exception:
            numba_cuda = "?"
        return (f"numba-cuda {numba_cuda} cannot compile kernels with NumPy "
                f"{numpy.__version__} ({type(exc).__name__}: {exc})")
    return None
