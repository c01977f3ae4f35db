"""The Initializer base class and the request every initializer call makes.

Three ways to write an initializer, each usable wherever a built-in one is:

* Keras style: subclass :class:`Initializer` and override
  ``__call__(shape, dtype=None)``.
* NeuPy style: subclass :class:`Initializer` and define only ``sample(shape)``;
  the base ``__call__`` converts its result to the dtype and device asked for
  (ValueError when its shape differs or a finite value overflows the dtype).
* a plain callable ``(shape, dtype)`` (see :func:`gpuinit.initializers.get`).

Built-in initializers implement ``generate(request)``: the base ``__call__``
validates shape, dtype, device, stream and the block (``full_shape=``/``start=``)
once and hands over a :class:`Request`.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..arguments import check_int, check_shape
from ..block_rows import check_block
from ..devices import Device, array_module, on_device
from ..devices import device as resolve_device
from ..given_arrays import to_device
from ..seeding import SEED_LIMIT, check_seed, initializer_seed


@dataclass(frozen=True)
class Request:
    """One initializer call: the block ``shape`` at ``start`` of a tensor of ``full_shape``."""

    shape: tuple[int, ...]
    full_shape: tuple[int, ...]
    start: tuple[int, ...]
    dtype: Any  # None (float32) or what the caller passed
    device: Device
    stream: int
    seed: int | None = None  # the seed of an unseeded initializer for this call (layers)

    @property
    def is_block(self) -> bool:
        """Return True when only part of the whole tensor is asked for."""
        return self.shape != self.full_shape

    @property
    def xp(self):
        """Return the array module of the device (numpy or cupy)."""
        return array_module(self.device)

    def on_device(self):
        """Return a context manager that makes the request's GPU current (a no-op on the CPU),
        for array-module operations on the request's arrays."""
        return on_device(self.device)

    def block_arguments(self) -> dict:
        """Return the keyword arguments that make the sampling primitives fill this block."""
        if not self.is_block:
            return {}
        return {"full_shape": self.full_shape, "start": self.start}

    def whole(self, name: str) -> None:
        """Raise ValueError when a block is asked of an initializer that needs the whole tensor."""
        if self.is_block:
            raise ValueError(
                f"{name} needs the whole tensor: it cannot make the block shape={self.shape} "
                f"at start={self.start} of full_shape={self.full_shape}"
            )


def make_request(shape, dtype, device, stream, full_shape, start, seed=None) -> Request:
    """Return the validated :class:`Request`; TypeError/ValueError naming the bad argument."""
    shape = check_shape(shape)
    stream = check_int(stream, "stream", 0, SEED_LIMIT)
    seed = None if seed is None else check_seed(seed)
    if full_shape is None:
        if start is not None:
            raise ValueError("start= needs full_shape=, the shape of the whole tensor")
        full, first = shape, (0,) * len(shape)
    else:
        full, first = check_block(shape, full_shape, start)
    return Request(shape, full, first, dtype, resolve_device(device), stream, seed)


def _registering_with_keras(get_config: Callable) -> Callable:
    """Return ``get_config`` registering gpuinit's classes with Keras first, when Keras is
    imported (:func:`.keras_interop.register_if_keras_imported`: one dictionary lookup
    once they are)."""

    @functools.wraps(get_config)
    def registering(self) -> dict:
        from .keras_interop import register_if_keras_imported

        register_if_keras_imported()
        return get_config(self)

    registering.registers_with_keras = True
    return registering


class Initializer:
    """Base class of initializers: ``init(shape, dtype=None, device=None)`` returns an array.

    Returns a NumPy array on the CPU and a CuPy array on CUDA, allocated once on
    its device and filled there.  Keyword-only extras: ``stream=`` (an int
    selecting an independent tensor of the same seed) and ``full_shape=``/
    ``start=`` (make one block of a larger tensor, equal to that block of the
    whole), and ``seed=``, the seed an initializer built without one uses for
    this call (layers pass their model's seed; an initializer's own seed wins).
    Matches ``keras.initializers.Initializer``.

    ``get_config`` (each subclass's) first registers gpuinit's classes with Keras when
    Keras is imported: Keras saves an object under the name its registry holds for the
    class, read after ``get_config``, so a model saved by a process that imported
    gpuinit before Keras names gpuinit's classes too (and loads back to them).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("get_config")
        if own is not None and not getattr(own, "registers_with_keras", False):
            cls.get_config = _registering_with_keras(own)

    def __call__(self, shape, dtype=None, device=None, *, stream: int = 0, full_shape=None,
                 start=None, seed: int | None = None, **kwargs):
        if kwargs:
            raise TypeError(f"unexpected keyword arguments {sorted(kwargs)}")
        request = make_request(shape, dtype, device, stream, full_shape, start, seed)
        if type(self).generate is not Initializer.generate:
            return self.generate(request)
        if type(self).sample is not Initializer.sample:
            request.whole(type(self).__name__)
            return as_device_array(self.sample(request.shape), request)
        raise NotImplementedError(
            f"{type(self).__name__} must define __call__(shape, dtype) or sample(shape)"
        )

    # True for initializers whose values need the whole tensor at once (QR, per-column
    # sparsity): they refuse full_shape=/start= blocks.
    needs_whole_tensor = False

    @property
    def makes_blocks(self) -> bool:
        """Return True when calls with ``full_shape=``/``start=`` return blocks of the whole
        tensor (what Dask chunks and shards need); False for initializers that need the
        whole tensor and for user classes that define ``__call__`` or ``sample``."""
        cls = type(self)
        return (cls.__call__ is Initializer.__call__ and cls.generate is not Initializer.generate
                and not self.needs_whole_tensor)

    def generate(self, request: Request):
        """Return the array for ``request``; built-in initializers implement this."""
        raise NotImplementedError

    def sample(self, shape):
        """Return an array of ``shape`` (NeuPy style); the base call moves it to the device."""
        raise NotImplementedError

    # True for initializers whose law depends on the fans (the variance-scaling family):
    # a law in another layout (gpuinit.torch's) must pass its own fans to law().
    law_uses_fans = False

    @property
    def has_law(self) -> bool:
        """Return True when :meth:`law` gives the law of every entry (the elementwise
        random initializers), False when it raises."""
        return type(self).law is not Initializer.law

    def law(self, shape, fans: tuple[float, float] | None = None):
        """Return the law (a :mod:`gpuinit.laws` record) of every entry of a real tensor of
        ``shape``, with (fan_in, fan_out) from ``fans`` instead of this initializer's own
        rule when given.  ValueError for initializers whose entries have no single
        elementwise law (constants, orthogonal, sparse, user classes)."""
        raise ValueError(f"{type(self).__name__} has no elementwise law")

    def get_config(self) -> dict:
        """Return the constructor arguments (Keras: ``get_config``)."""
        return {}

    @classmethod
    def from_config(cls, config: dict):
        """Return ``cls(**config)`` (Keras: ``from_config``)."""
        return cls(**config)

    def clone(self):
        """Return a new initializer with the same configuration."""
        return type(self).from_config(self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    __hash__ = object.__hash__


class RandomInitializer(Initializer):
    """An initializer with a ``seed``: seeded ones return the same array on every call
    with the same shape, dtype and stream (Keras 3); unseeded ones draw a fresh seed
    from :func:`gpuinit.manual_seed`'s sequence on every call.

    ``seed`` is an integer in [0, 2^64), None, a ``keras.random.SeedGenerator`` or
    its serialized dict.  As in Keras, an initializer given a live SeedGenerator draws
    from it on every call (the generator's state advances, each call gives new values;
    see :func:`seed_generator_draw`), and ``get_config()["seed"]`` is the generator's
    seed (:func:`seed_generator_seed`), from which a rebuilt initializer is seeded.
    """

    def __init__(self, seed: int | None = None):
        self.seed_generator = seed if is_keras_seed_generator(seed) else None
        self.seed = _config_seed(seed)

    def call_seed(self, request: Request) -> int:
        """Return the seed for one call: a draw from the Keras SeedGenerator it was given;
        else ``self.seed``; else the request's seed (a layer's model seed); else the next
        seed of the global sequence, or after ``keras.utils.set_random_seed`` a draw as
        Keras' unseeded initializers make (:func:`gpuinit.seeding.initializer_seed`)."""
        if self.seed_generator is not None:
            return seed_generator_draw(self.seed_generator)
        if self.seed is not None:
            return self.seed
        return initializer_seed() if request.seed is None else request.seed

    def get_config(self) -> dict:
        return {"seed": self.seed}


def _config_seed(seed: Any) -> int | None:
    """Return the integer seed (or None) of an initializer's ``seed=`` argument.

    Accepts an integer in [0, 2^64), None, a ``keras.random.SeedGenerator`` or its
    serialized form (a dict with ``"config": {"seed": ...}``): see
    :func:`seed_generator_seed`.  TypeError/ValueError for anything else.
    """
    if seed is None:
        return None
    if isinstance(seed, dict):  # a serialized keras.random.SeedGenerator
        name = seed.get("class_name", "SeedGenerator")
        if name != "SeedGenerator":
            raise ValueError(f"seed={seed!r} is a serialized {name}, not a SeedGenerator")
        unknown = set(seed) - {"module", "class_name", "config", "registered_name"}
        if unknown:
            raise ValueError(f"seed={seed!r} is not a serialized SeedGenerator: unknown "
                             f"keys {sorted(map(str, unknown))}")
        inner = seed.get("config")
        if inner is not None and not isinstance(inner, dict):
            raise TypeError(f"seed={seed!r}: the 'config' of a serialized SeedGenerator must "
                            f"be a dict, got {type(inner).__name__}")
        if inner is None or "seed" not in inner:
            raise ValueError(f"seed={seed!r}: a serialized SeedGenerator holds its seed as "
                             "{'config': {'seed': ...}}; pass an integer seed, or None for "
                             "an unseeded initializer")
        seed = inner["seed"]
        return None if seed is None else check_seed(seed)
    if is_keras_seed_generator(seed):
        return seed_generator_seed(seed)
    return check_seed(seed)


def is_keras_seed_generator(seed: Any) -> bool:
    """Return True when ``seed`` is a ``keras.random.SeedGenerator`` (Keras is never
    imported here: a SeedGenerator exists only once Keras is)."""
    keras = sys.modules.get("keras")
    generator = getattr(getattr(keras, "random", None), "SeedGenerator", None)
    return isinstance(generator, type) and isinstance(seed, generator)


def seed_generator_seed(generator: Any) -> int:
    """Return the integer seed gpuinit takes from a ``keras.random.SeedGenerator``.

    The rule: the seed it was built with (``SeedGenerator(s)`` gives s, what its
    ``get_config()["seed"]`` and its serialized form hold); for one built
    without a seed, the seed Keras drew for it, the first word of its state
    (``state = [seed, counter]``), read as uint32 like Keras' seeds.  The counter
    is not read: the initializer is then seeded with that integer and, as with
    ``seed=s``, returns the same array on every call, where Keras draws a new
    seed from the generator on each call.
    """
    initial = generator.get_config().get("seed")
    if initial is not None:
        return check_seed(initial)
    import keras

    state = keras.ops.convert_to_numpy(generator.state.value)
    return int(state.reshape(-1)[0]) & 0xFFFFFFFF


def seed_generator_draw(generator: Any) -> int:
    """Return the seed of one draw from a ``keras.random.SeedGenerator`` (its ``next()``,
    which advances its state as a Keras initializer's call does).

    A draw is Keras' pair (seed, counter); gpuinit's seed is seed + counter·2^32, so the
    first draw of ``SeedGenerator(s)``, the pair (s, 0) that Keras also uses for
    ``seed=s``, gives gpuinit's seed s.
    """
    import keras

    words = keras.ops.convert_to_numpy(generator.next()).reshape(-1)
    return (int(words[0]) & 0xFFFFFFFF) + ((int(words[1]) & 0xFFFFFFFF) << 32)


def as_device_array(values: Any, request: Request):
    """Return ``values`` as an array of the request's shape, dtype and device.

    CuPy arrays stay on their GPU; NumPy arrays, torch tensors and nested lists are
    copied to the device once.  ValueError when the shape differs or when a value that
    is finite in ``values`` is not finite in the request's dtype (1e39 in float32).
    """
    return to_device(values, request.shape, request.dtype, request.device,
                     "the initializer's result")
