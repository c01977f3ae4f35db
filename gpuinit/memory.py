"""How much memory a device has free, and the check every allocation makes first.

On the CPU the operating system's own estimate is read (``MemAvailable`` of
``/proc/meminfo`` on Linux, ``sysconf`` elsewhere), capped by what the process's
memory cgroup (a container's limit) has left.  An allocation larger than
that is refused up front: with Linux's overcommit ``numpy.empty`` of more than
the machine holds can succeed, and the process is then killed while the array
is being written.  On CUDA the driver's free bytes plus what CuPy's pool holds
unused are reported.
"""

from __future__ import annotations

import os

from .devices import Device, on_device
from .errors import OutOfMemoryError

# Host allocations below this size are not checked: reading the OS's figure costs
# more than they can risk.
HOST_CHECK_BYTES = 1 << 26


def host_available_bytes() -> int | None:
    """Return the bytes the operating system says can be allocated now, or None
    when it does not say: ``MemAvailable`` (or ``sysconf``), and no more than what
    the process's memory cgroup (a container's limit) has left."""
    machine = _machine_available_bytes()
    group = cgroup_available_bytes()
    if machine is None or group is None:
        return machine if group is None else group
    return min(machine, group)


def _machine_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


# A cgroup limit at or above this is "no limit" (v1 writes 2^63 rounded to pages).
_NO_LIMIT = 1 << 60


def cgroup_available_bytes(root: str = "/sys/fs/cgroup",
                           membership: str = "/proc/self/cgroup") -> int | None:
    """Return the bytes this process's memory cgroups can still take: the least, over
    its cgroup and the cgroups above it, of limit less usage (the inactive file
    cache, which the kernel reclaims first, not counted as used); None without a
    limit.  Reads cgroup v2 (``memory.max``, ``memory.current``) or v1
    (``memory.limit_in_bytes``, ``memory.usage_in_bytes``)."""
    try:
        with open(membership, encoding="ascii") as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    left = []
    for _, controllers, path in (line for line in lines if len(line) == 3):
        if controllers == "":  # v2
            names = ("memory.max", "memory.current", "inactive_file")
            base = root
        elif "memory" in controllers.split(","):  # v1
            names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
            base = os.path.join(root, "memory")
        else:
            continue
        parts = [p for p in path.split("/") if p]
        for depth in range(len(parts), -1, -1):  # the process's cgroup, then its parents
            found = _cgroup_left(os.path.join(base, *parts[:depth]), *names)
            if found is not None:
                left.append(found)
    return min(left) if left else None


def _cgroup_left(directory: str, limit_file: str, usage_file: str,
                 inactive_key: str) -> int | None:
    """Return one cgroup's limit less its usage (inactive file cache not counted), or
    None when it sets no limit or its files cannot be read."""
    try:
        with open(os.path.join(directory, limit_file), encoding="ascii") as f:
            limit_text = f.read().strip()
        if limit_text == "max" or int(limit_text) >= _NO_LIMIT:
            return None
        with open(os.path.join(directory, usage_file), encoding="ascii") as f:
            usage = int(f.read().strip())
    except (OSError, ValueError):
        return None
    inactive = 0
    try:
        with open(os.path.join(directory, "memory.stat"), encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(" ")
                if key == inactive_key:
                    inactive = int(value)
    except (OSError, ValueError):
        pass
    return max(0, int(limit_text) - max(0, usage - inactive))


def cuda_available_bytes(index: int) -> int:
    """Return the free bytes of CUDA device ``index``: the driver's free memory plus
    the bytes CuPy's default pool holds unused."""
    import cupy

    with on_device(index):
        free, _ = cupy.cuda.runtime.memGetInfo()
        return int(free) + int(cupy.get_default_memory_pool().free_bytes())


def available_bytes(dev: Device) -> int | None:
    """Return the free bytes of ``dev`` (None when the OS does not say)."""
    if dev.is_cuda:
        return cuda_available_bytes(dev.index)
    return host_available_bytes()


def check_fits(nbytes: int, dev: Device) -> None:
    """Raise :class:`OutOfMemoryError` (bytes asked and free) when ``nbytes`` cannot be
    allocated on ``dev`` now; returns None when it can, when the free memory is
    unknown, or for host allocations below :data:`HOST_CHECK_BYTES`."""
    if nbytes <= 0 or (not dev.is_cuda and nbytes < HOST_CHECK_BYTES):
        return
    free = available_bytes(dev)
    if free is not None and nbytes > free:
        raise OutOfMemoryError(nbytes, free, str(dev))


def out_of_memory(nbytes: int, dev: Device) -> OutOfMemoryError:
    """Return the :class:`OutOfMemoryError` for a failed allocation of ``nbytes`` on ``dev``."""
    try:
        free = available_bytes(dev)
    except Exception:  # the device is in no state to say
        free = None
    return OutOfMemoryError(nbytes, free, str(dev))
