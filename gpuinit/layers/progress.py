"""A text progress bar for model builds: pass an instance as ``progress=``."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .summary import human_bytes


def is_terminal(stream: TextIO) -> bool:
    """Return True when ``stream`` is an interactive terminal (its ``isatty()`` says so)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or detached stream
        return False


class ProgressBar:
    """Reports bytes made so far: ``[#####.....]  52% 1.2 GB / 2.3 GB  block_7/mlp/fc/weight``.

    Called as ``bar(done, total, path)`` with bytes made so far and in all (the
    signature of ``progress=`` in :meth:`Sequential.build` and
    :func:`make_parameters`).  On a terminal it redraws one line (``\\r``) at most
    every ``interval`` seconds and ends the line when ``done == total``.  On
    anything else (a log file, a pipe, CI output) it writes one plain line each
    time another 10% is done, and one at the end, so logs hold no ``\\r``.
    """

    def __init__(self, width: int = 30, stream: TextIO | None = None, interval: float = 0.1):
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.terminal = is_terminal(self.stream)
        self._last = 0.0
        self._decile = -1  # the last tenth reported on a non-terminal stream

    def __call__(self, done: int, total: int, path: str) -> None:
        finished = done >= total
        fraction = done / total if total else 1.0
        if not self.terminal:
            decile = 10 if finished else int(fraction * 10)
            if decile > self._decile:
                self._decile = -1 if finished else decile  # ready for the next build
                self.stream.write(f"{self._line(fraction, done, total)}  {path}\n")
                self.stream.flush()
            return
        now = time.perf_counter()
        if not finished and now - self._last < self.interval:
            return
        self._last = now
        self.stream.write(f"\r{self._line(fraction, done, total)}  {path[:40]:40}")
        if finished:
            self.stream.write("\n")
        self.stream.flush()

    def _line(self, fraction: float, done: int, total: int) -> str:
        """Return ``[#####.....]  52% 1.2 GB / 2.3 GB``."""
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {fraction:4.0%} {human_bytes(done)} / {human_bytes(total)}"
