"""STFT: the Fourier-basis convolution kernel of Keras 3's ``keras.initializers.STFT``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..arguments import check_bool
from ..dtypes import check_representable, float_format
from ..launch import allocate
from .base import Initializer, Request

_SIDES = ("real", "imag")
_SCALINGS = ("density", "spectrum")


def _signal():
    """Return ``scipy.signal`` (named windows need SciPy, as in Keras)."""
    try:
        from scipy import signal
    except ImportError as exc:
        raise ImportError("STFT windows given by name need SciPy: pip install scipy") from exc
    return signal


class STFT(Initializer):
    """Return a ``(frame_length, channels, fft_bins)`` kernel of windowed Fourier bases.

    W[t, c, f] = cos(-2π·t·f / N) (``side="real"``) or sin(-2π·t·f / N)
    (``"imag"``), N = 2·(fft_bins - 1), times ``window[t]`` divided by √Σwindow²
    (``scaling="density"``) or Σ|window| (``"spectrum"``); ``window`` is a name
    of ``scipy.signal.get_window`` (``periodic`` picks its periodic form), an
    array of ``frame_length`` values, or None.  Matches
    ``keras.initializers.STFT``, with two differences: every channel gets the
    kernel (Keras returns ``(frame_length, 1, fft_bins)`` whatever the channel
    count), and the angles are exact (t·f mod N in integers, cos/sin in float64,
    one rounding to the dtype), where Keras computes them in the output dtype:
    the results agree to ~1e-12 in float64; in float32 Keras' own rounding of
    the angle (up to ~frame_length·fft_bins·1e-7 rad) dominates the difference.
    ``fft_bins`` must be at least 2 (Keras divides by zero for 1).  A window given as
    values is checked when the initializer is made: a 1-D array of finite real numbers,
    not all zeros unless ``scaling=None`` (ValueError/TypeError naming ``window``); the
    normalizer is computed on w / max|w|, so huge or tiny windows stay finite.  A
    zero-size shape returns the empty array.

    >>> import gpuinit as gi
    >>> gi.initializers.STFT(window=None)((4, 1, 3), device="cpu")[:, 0, 1].round(6).tolist()
    [1.0, 0.0, -1.0, -0.0]
    """

    def __init__(self, side: str = "real", window: Any = "hann", scaling: str | None = "density",
                 periodic: bool = False):
        if side not in _SIDES:
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str):
            try:
                signal = _signal()
            except ImportError:
                signal = None  # checked when the kernel is made
            if signal is not None:
                signal.get_window(window, 1)  # Keras' check: ValueError for unknown names
        if scaling is not None and scaling not in _SCALINGS:
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={scaling}")
        self.side = side
        self.scaling = scaling
        if window is not None and not isinstance(window, str):
            values = window_array(window)
            self.scaled(values)  # an all-zero window is refused now
            window = values.tolist()
        self.window = window
        self.periodic = check_bool(periodic, "periodic")

    def window_values(self, frame_length: int) -> np.ndarray | None:
        """Return the window as ``frame_length`` float64 values (None without a window);
        ValueError when a given array has another length."""
        if self.window is None:
            return None
        if isinstance(self.window, str):
            return np.asarray(_signal().get_window(self.window, frame_length, self.periodic),
                              dtype=np.float64)
        values = np.asarray(self.window, dtype=np.float64)
        if values.shape != (frame_length,):
            raise ValueError("The shape of `window` must be equal to [frame_length]. "
                             f"Received: window shape={values.shape}")
        return values

    def scaled(self, window: np.ndarray | None, label: str | None = None) -> np.ndarray | None:
        """Return ``window`` divided by its normalizer: √Σw² (``scaling="density"``), Σ|w|
        (``"spectrum"``) or 1 (None); None without a window.

        Computed as u / √Σu² or u / Σ|u| with u = w / max|w|, so windows of huge or
        tiny values neither overflow nor underflow (every result lies in [-1, 1]).
        ValueError naming ``window`` (``label``: how to show it, default its values) when
        a scaled window is all zeros (a given one, or a named one for this frame
        length): its normalizer is 0."""
        if window is None or self.scaling is None:
            return window
        largest = float(np.max(np.abs(window))) if window.size else 0.0
        if largest == 0.0:
            raise ValueError(f"window={label or _short(window)} is all zeros, so its "
                             f"{self.scaling} normalizer is 0 and the kernel would be NaN; "
                             "give a window with a non-zero value, or scaling=None")
        unit = window / largest
        if self.scaling == "density":
            return unit / math.sqrt(float(np.sum(unit * unit)))
        return unit / float(np.sum(np.abs(unit)))

    def generate(self, request: Request):
        shape = request.full_shape
        if len(shape) != 3:
            raise ValueError(f"STFT needs a 3-D shape (frame_length, channels, fft_bins), "
                             f"got shape={shape}")
        frame_length, _, bins = shape
        form = float_format(request.dtype)
        if 0 in shape:  # zero-size: nothing to compute (a given window must still fit)
            if self.window is not None and not isinstance(self.window, str):
                self.window_values(frame_length)
            return allocate(request.shape, form.numpy_dtype, request.device)
        if bins < 2:
            raise ValueError(f"STFT needs at least 2 fft bins (shape[2]), got shape={shape}")
        label = f"{self.window!r} of frame_length {frame_length}" \
            if isinstance(self.window, str) else None
        window = self.scaled(self.window_values(frame_length), label)
        if window is not None:  # |cos|, |sin| <= 1: the kernel fits when the window does
            check_representable(float(np.max(np.abs(window))), form.numpy_dtype, "window")
        n = 2 * (bins - 1)
        (t0, _, f0), (nt, _, nf) = request.start, request.shape
        xp = request.xp
        with request.on_device():
            t = xp.arange(t0, t0 + nt, dtype=np.int64)[:, None, None]
            f = xp.arange(f0, f0 + nf, dtype=np.int64)[None, None, :]
            angle = ((t * f) % n).astype(np.float64) * (-2.0 * math.pi / n)
            kernel = xp.cos(angle) if self.side == "real" else xp.sin(angle)
            if window is not None:
                kernel *= xp.asarray(window[t0:t0 + nt])[:, None, None]
            out = allocate(request.shape, form.numpy_dtype, request.device)
            out[...] = kernel
        return out

    def get_config(self) -> dict:
        return {"side": self.side, "window": self.window, "periodic": self.periodic,
                "scaling": self.scaling}


def window_array(window: Any) -> np.ndarray:
    """Return a window given as values (list, tuple, array) as a 1-D float64 array with at
    least one value, all finite; TypeError naming ``window`` for non-numbers (strings,
    booleans, complex), ValueError for another rank, no values, NaN or infinities."""
    try:
        values = np.asarray(window)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"window is not a rectangular array: {exc}") from None
    if values.dtype.kind not in "iuf":
        raise TypeError(f"window must be a window name, None or an array of real numbers, "
                        f"got {type(window).__name__} {_short(window)}")
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"window={_short(window)} must be a window name, None or a 1-D "
                         f"array of frame_length values, got shape {values.shape}")
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ValueError(f"window={_short(window)} holds NaN or infinite values")
    return values


def _short(values: Any) -> str:
    """Return ``repr(values)`` cut to 60 characters, for error messages."""
    text = repr(values.tolist() if isinstance(values, np.ndarray) else values)
    return text if len(text) <= 60 else text[:57] + "..."
