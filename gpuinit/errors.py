"""The typed errors of gpuinit."""

from __future__ import annotations


class DeviceError(RuntimeError):
    """A device was asked for that cannot be used here; the message says why."""


class LawError(ValueError):
    """A law of :mod:`gpuinit.laws` refuses the numbers it is made with (a negative or
    infinite std, an empty interval): a ValueError naming the argument, raised when the
    law is made, so that code computing those numbers (a scheme) tells them from its own
    errors."""


def prefixed(exc: Exception, prefix: str) -> Exception | None:
    """Return a new exception of ``exc``'s type whose message is ``prefix`` then its own,
    when ``exc`` is a plain ValueError, TypeError or :class:`LawError` (its message is all
    it carries); None for a subclass that carries more (``OutOfRange``, an error with
    attributes), which is to be re-raised as it is."""
    if type(exc) not in (ValueError, TypeError, LawError):
        return None
    return type(exc)(f"{prefix}{exc}")


class OutOfMemoryError(MemoryError):
    """The device has too little free memory for a requested array.

    ``requested`` and ``free`` are in bytes (``free`` is None when unknown).
    """

    def __init__(self, requested: int, free: int | None, device: str):
        self.requested = requested
        self.free = free
        self.device = device
        free_text = "unknown" if free is None else f"{free:,} bytes"
        super().__init__(
            f"out of memory on {device}: asked for {requested:,} bytes, free {free_text}"
        )
