"""A text progress bar for model builds: pass an instance as ``progress=``."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .summary import human_bytes


class ProgressBar:
    """Draws ``[#####.....] 52% 1.2 GB / 2.3 GB  block_7/mlp/fc/weight`` on one line.

    Called as ``bar(done, total, path)`` with bytes made so far and in all (the
    signature of ``progress=`` in :meth:`Sequential.build` and
    :func:`make_parameters`); redraws at most every ``interval`` seconds and
    ends the line when ``done == total``.
    """

    def __init__(self, width: int = 30, stream: TextIO | None = None, interval: float = 0.1):
        self.width = width
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._last = 0.0

    def __call__(self, done: int, total: int, path: str) -> None:
        now = time.perf_counter()
        finished = done >= total
        if not finished and now - self._last < self.interval:
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {fraction:4.0%} {human_bytes(done)} / "
                          f"{human_bytes(total)}  {path[:40]:40}")
        if finished:
            self.stream.write("\n")
        self.stream.flush()
