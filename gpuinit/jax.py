"""JAX arrays made by gpuinit initializers, each device making its own shard.

``gpuinit.jax.array("he_normal", (8192, 8192), sharding=NamedSharding(mesh, P("x", "y")),
seed=0)`` returns a ``jax.Array`` whose every shard is made on its own device as that
block of the whole tensor (``full_shape=``/``start=``, the counter contract), so the
result equals, bit for bit, the unsharded array and the NumPy array that the same
initializer and seed give on the CPU, however the mesh splits it.  Fans and bounds come
from the whole shape.  On CPU devices the shards are made by ``jax.make_array_from_callback``
(NumPy blocks); on GPU devices each block is made on its GPU by CuPy and handed to JAX
through DLPack, with no host copy (bfloat16 is handed over as its 16-bit words and
reinterpreted on the device).

``gpuinit.jax.initializer("glorot_uniform")`` is a JAX-style initializer
``f(key, shape, dtype=None)``, usable as a Flax ``kernel_init``; as every
``jax.nn.initializers`` factory, it takes ``dtype=``, the default of ``f``'s own.

Needs the ``jax`` extra.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ModuleNotFoundError as exc:  # the jax extra is not installed
    raise ModuleNotFoundError(f"gpuinit.jax needs JAX ({exc}): pip install \"gpuinit[jax]\"",
                              name=exc.name) from exc

from .arguments import check_shape
from .dtypes import EXACT_DTYPES, FORMATS, dtype_name
from .initializers import Initializer, RandomInitializer, get
from .seeding import check_seed, next_seed

__all__ = ["array", "initializer", "key_seed"]


def array(init: Any, shape: Any, dtype: Any = "float32", *, sharding: Any = None,
          seed: int | None = None) -> jax.Array:
    """Return a ``jax.Array`` equal to ``init(shape, dtype, seed=seed)``, laid out by ``sharding``.

    ``init`` is anything :func:`gpuinit.initializers.get` accepts.  The seed is fixed
    at the call, as :func:`gpuinit.dask.array` fixes it: the initializer's own seed,
    else ``seed``, else the next seed of :func:`gpuinit.manual_seed`'s sequence.
    ``sharding`` is any ``jax.sharding.Sharding`` (``NamedSharding(mesh, P(...))``);
    None puts the whole array on JAX's default device.  Each addressable device makes
    its own shard as that block of the whole tensor; replicated shards are made on
    each of their devices, from the same bits.

    ``dtype`` follows JAX's x64 setting, as ``jax.numpy`` does: with ``jax_enable_x64``
    off, a 64-bit dtype is made as its 32-bit counterpart (float64 as float32, complex128
    as complex64, int64 as int32) with JAX's UserWarning, and None is JAX's default float
    dtype.  TypeError naming ``dtype`` for what is no dtype or a dtype gpuinit makes no
    arrays of.

    Initializers that need the whole tensor (Orthogonal, DeltaOrthogonal, Sparse, user
    classes with their own ``__call__``/``sample``, Keras-style callables) are made
    whole once on the host and then placed by ``jax.device_put``: a host temporary of
    the whole array's size.

    >>> import gpuinit.jax
    >>> gpuinit.jax.array("glorot_uniform", (4, 3), seed=0).shape
    (4, 3)
    """
    initializer = get(init)
    if initializer is None:
        raise TypeError("init=None: give an initializer, a string id or a config dict")
    shape = check_shape(shape)
    name = _array_dtype(dtype)
    _warn_if_truncated(dtype, name, "gpuinit.jax.array")
    call_seed = _call_seed(initializer, seed)
    if sharding is None:
        sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError(f"sharding must be a jax.sharding.Sharding, got {type(sharding).__name__}")
    devices = _indices_map(sharding, shape)
    if not (isinstance(initializer, Initializer) and initializer.makes_blocks):
        return jax.device_put(_make_whole(initializer, shape, name, call_seed), sharding)
    if shape:  # checks every argument against the whole shape before any device is used
        initializer((0,) + shape[1:], name, "cpu", full_shape=shape, start=(0,) * len(shape),
                    seed=call_seed)
    if all(device.platform == "cpu" for device in devices):
        return jax.make_array_from_callback(
            shape, sharding, lambda index: make_block(initializer, shape, name, call_seed, index))
    shards = [_device_block(initializer, shape, name, call_seed, index, device)
              for device, index in devices.items()]
    return jax.make_array_from_single_device_arrays(shape, sharding, shards)


def _indices_map(sharding: Any, shape: tuple[int, ...]) -> dict:
    """Return ``sharding.addressable_devices_indices_map(shape)``; ValueError naming the
    sharding when it does not fit the shape (a partition spec longer than the rank)."""
    spec = getattr(sharding, "spec", None)
    if spec is not None and len(spec) > len(shape):
        raise ValueError(f"sharding {sharding} partitions {len(spec)} dimensions, but shape "
                         f"{shape} has {len(shape)}")
    try:
        return sharding.addressable_devices_indices_map(shape)
    except (IndexError, ValueError) as exc:
        raise ValueError(f"sharding {sharding} does not fit shape {shape}: {exc}") from exc


def _call_seed(initializer: Any, seed: Any) -> int | None:
    """Return the one seed every shard uses: the initializer's own, else ``seed``, else the
    next of the global sequence (None for initializers without randomness).
    Matches :func:`gpuinit.dask.array`'s rule."""
    seed = None if seed is None else check_seed(seed)
    if not isinstance(initializer, RandomInitializer):
        return seed
    if initializer.seed is not None:
        return initializer.seed
    return next_seed() if seed is None else seed


def block_of(index: Any, shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return (block shape, start) of the block that JAX's ``index`` (a tuple of slices, as
    ``addressable_devices_indices_map`` and ``make_array_from_callback`` give) selects
    from a tensor of ``shape``."""
    index = tuple(index or ()) + (slice(None),) * (len(shape) - len(tuple(index or ())))
    starts, sizes = [], []
    for part, n in zip(index, shape, strict=True):
        first, stop, step = part.indices(n)
        if step != 1:
            raise ValueError(f"index {index} has a step; gpuinit makes blocks of step 1")
        starts.append(first)
        sizes.append(max(stop - first, 0))
    return tuple(sizes), tuple(starts)


def make_block(initializer: Initializer, shape: tuple[int, ...], dtype: str,
               seed: int | None, index: Any, device: str = "cpu"):
    """Return the block of ``initializer``'s whole tensor that ``index`` selects, made on
    ``device`` (NumPy on the CPU, CuPy on a GPU): equal to ``whole[index]`` bit for bit."""
    block, start = block_of(index, shape)
    return initializer(block, dtype, device, full_shape=shape, start=start, seed=seed)


def _device_block(initializer: Initializer, shape: tuple[int, ...], dtype: str,
                  seed: int | None, index: Any, device: Any) -> jax.Array:
    """Return the block ``index`` as a single-device ``jax.Array`` on ``device``, made there:
    on a GPU by CuPy and handed over through DLPack (no copy; bfloat16 as its 16-bit
    words, reinterpreted on the device), elsewhere made on the host and put there."""
    if device.platform != "gpu":
        return jax.device_put(make_block(initializer, shape, dtype, seed, index), device)
    ordinal = getattr(device, "local_hardware_id", None)
    ordinal = device.id if ordinal is None else ordinal
    values = make_block(initializer, shape, dtype, seed, index, f"cuda:{ordinal}")
    if dtype != "bfloat16":
        return jax.dlpack.from_dlpack(values)
    import cupy

    words = jax.dlpack.from_dlpack(values.view(cupy.uint16))
    return jax.lax.bitcast_convert_type(words, jnp.bfloat16)


def _make_whole(initializer: Any, shape: tuple[int, ...], dtype: str, seed: int | None):
    """Return the whole tensor as a host NumPy array (initializers that cannot make blocks)."""
    if isinstance(initializer, Initializer) and type(initializer).__call__ is Initializer.__call__:
        return initializer(shape, dtype, "cpu", seed=seed)
    values = initializer(shape, dtype)  # a user class's own __call__ or a (shape, dtype) callable
    return values.get() if hasattr(values, "get") else np.asarray(values)


def key_seed(key: Any) -> int:
    """Return the gpuinit seed of a JAX PRNG key: from its words ``jax.random.key_data(key)``.

    Two 32-bit words (threefry2x32, JAX's default) give ``(words[0] << 32) | words[1]``,
    so ``jax.random.key(k)`` and ``jax.random.PRNGKey(k)`` give seed ``k`` for every
    ``k`` in [0, 2^32); keys of other implementations give the first 8 bytes (little
    endian) of the BLAKE2b hash of their words.  Typed keys and raw uint32 keys alike.

    >>> import jax, gpuinit.jax
    >>> gpuinit.jax.key_seed(jax.random.key(42))
    42
    """
    return _words_seed(np.asarray(jax.random.key_data(key)))


def _words_seed(words: np.ndarray) -> int:
    """Return the seed of a key's uint32 words (the rule of :func:`key_seed`)."""
    words = np.asarray(words, dtype=np.uint32).reshape(-1)
    if words.size == 2:
        return (int(words[0]) << 32) | int(words[1])
    digest = hashlib.blake2b(words.tobytes(), digest_size=8, person=b"gpuinit.jaxkey")
    return int.from_bytes(digest.digest(), "little")


def initializer(init: Any, *, dtype: Any = None) -> Callable:
    """Return a JAX-style initializer ``f(key, shape, dtype=dtype) -> jax.Array``.

    Usable wherever JAX and Flax take one (``nn.Dense(kernel_init=...)``): it returns
    ``gpuinit.jax.array(init, shape, dtype, seed=key_seed(key))``, so the key alone
    decides the values: the same key gives the same array, different keys different
    arrays, and ``f(jax.random.key(k), shape)`` equals ``gpuinit.jax.array(init, shape,
    seed=k)``.  See :func:`key_seed` for how a key becomes a seed.  Fans use Keras'
    layout, which is Flax's (``(..., in, out)``).

    ``dtype`` is the default of ``f``'s own ``dtype``, as in ``jax.nn.initializers``
    (``normal(stddev, dtype=...)``): a dtype given to ``f`` wins, and None is JAX's
    default float dtype (float32, float64 when ``jax_enable_x64`` is on).  A dtype given
    explicitly follows the same setting, as in JAX: with x64 off a 64-bit one is made as
    its 32-bit counterpart, with JAX's UserWarning at each such call of ``f``.  It is
    checked here: TypeError naming ``dtype`` for what is no dtype and for dtypes gpuinit
    makes no arrays of (strings, objects, 8-bit floats).  Whether the initializer can
    make it (a random law needs a float or complex one) is checked when ``f`` is called,
    with the shape (ValueError naming ``dtype``).

    Eagerly (Flax NNX builds modules eagerly) the array is made on JAX's default device
    by gpuinit's kernels there.  Under ``jax.jit`` (a traced key) it is made on the host
    by ``jax.pure_callback`` from the same seed, the same bits on the CPU (on a GPU the
    truncated normal's inverse-CDF fallback may differ from the eager result within 2
    ulp, the README's counter contract); ``jax.vmap`` over keys runs the callback once per key.

    ValueError for an initializer built with its own ``seed=``, since the key is the
    seed here.

    >>> import jax, gpuinit.jax
    >>> f = gpuinit.jax.initializer("he_normal")
    >>> f(jax.random.key(0), (3, 2)).shape
    (3, 2)
    """
    base = get(init)
    if base is None:
        raise TypeError("init=None: give an initializer, a string id or a config dict")
    if isinstance(base, RandomInitializer) and base.seed is not None:
        raise ValueError(f"{base!r} has its own seed={base.seed}: a JAX initializer takes its "
                         "seed from the key; build it without seed=")
    _array_dtype(dtype)  # refused now; JAX's x64 setting is read again at each call

    def init_fn(key: Any, shape: Any, dtype: Any = dtype) -> jax.Array:
        shape = check_shape(shape)
        name = _array_dtype(dtype)
        _warn_if_truncated(dtype, name, "gpuinit.jax.initializer")
        words = jax.random.key_data(key)
        if words.ndim != 1:
            key_shape = tuple(words.shape[:-1])
            raise ValueError(f"{init_fn.__name__} accepts a single key, but was given a key "
                             f"array of shape {key_shape} != (). Use jax.vmap for batching.")
        if not isinstance(words, jax.core.Tracer):
            return array(base, shape, name, seed=_words_seed(np.asarray(words)))
        # Under jit the values are made by a host callback, where an error would reach the
        # caller as JAX's INTERNAL callback error: check everything now, at trace time.
        _check_on_host(base, shape, name)

        def host(words):
            return np.asarray(_make_host(base, shape, name, _words_seed(words)))

        result = jax.ShapeDtypeStruct(shape, jnp.dtype(name))
        return jax.pure_callback(host, result, words, vmap_method="sequential")

    init_fn.__name__ = f"gpuinit_{type(base).__name__}"
    init_fn.__doc__ = (f"JAX-style initializer f(key, shape, dtype={dtype!r}) of gpuinit's "
                       f"{base!r}.")
    return init_fn


def _array_dtype(dtype: Any) -> str:
    """Return the name of the dtype a JAX initializer makes for ``dtype``, by JAX's rule
    (``jax.nn.initializers``): None is the default float dtype, and 64-bit dtypes are
    32-bit ones unless ``jax_enable_x64`` is on.  TypeError naming ``dtype`` for what is
    no dtype and for a dtype gpuinit makes no arrays of."""
    # np.float64 canonicalizes to JAX's default float dtype: float32 unless x64 is on.
    asked = np.float64 if dtype is None else dtype
    try:
        # gpuinit's reading of the name first ("float" is float32, torch dtypes), then JAX's.
        name = dtype_name(jax.dtypes.canonicalize_dtype(dtype_name(asked)))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"dtype={dtype!r} is not a dtype: {exc}") from None
    if name not in FORMATS and name not in EXACT_DTYPES:
        raise TypeError(f"dtype={dtype!r} ({name}) is not a dtype gpuinit makes: use a float "
                        f"({', '.join(FORMATS)}), an integer of 8 to 64 bits, bool or a complex "
                        "dtype")
    return name


def _warn_if_truncated(dtype: Any, name: str, where: str) -> None:
    """Return None; warn as JAX does (``jnp.zeros(3, dtype="float64")``) when ``dtype``,
    explicitly requested, is made as ``name`` because ``jax_enable_x64`` is off.  A dtype
    of None (JAX's default float dtype) is not explicit."""
    if dtype is None:
        return
    wanted = dtype_name(dtype)
    if wanted != name:
        warnings.warn(
            f"Explicitly requested dtype {wanted} requested in {where} is not available, and "
            f"will be truncated to dtype {name}. To enable more dtypes, set the "
            "jax_enable_x64 configuration option or the JAX_ENABLE_X64 shell environment "
            "variable.",
            UserWarning, stacklevel=3)


def _check_on_host(initializer: Any, shape: tuple[int, ...], dtype: str) -> None:
    """Raise the error ``initializer`` would raise for ``shape`` and ``dtype``, cheaply where
    it can: an initializer that makes blocks checks every argument on a block of no rows
    of the whole shape; any other one is run once on the host (at trace time)."""
    if isinstance(initializer, Initializer) and initializer.makes_blocks:
        if shape:
            initializer((0,) + shape[1:], dtype, "cpu", full_shape=shape,
                        start=(0,) * len(shape), seed=0)
        else:
            initializer(shape, dtype, "cpu", seed=0)
        return
    _make_host(initializer, shape, dtype, 0)


def _make_host(initializer: Any, shape: tuple[int, ...], dtype: str, seed: int):
    """Return the whole tensor on the host as NumPy, from ``seed`` (the jit callback)."""
    if isinstance(initializer, Initializer) and initializer.makes_blocks:
        return initializer(shape, dtype, "cpu", seed=seed)
    return _make_whole(initializer, shape, dtype, seed)
