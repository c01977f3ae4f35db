"""gpuinit.jax: sharded jax.Arrays equal the unsharded and the NumPy result bit for bit.

The sharded cases run in a subprocess (this file as a script) with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``, which must be set before JAX is
imported: it saves every array it made and the blocks each device asked for, and the
tests compare them here with the NumPy arrays of the same initializers and seeds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = jax.numpy
import gpuinit as gi  # noqa: E402
import gpuinit.jax as gj  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = 7
INITIALIZERS = ["he_normal", "glorot_uniform", "truncated_normal", "lecun_uniform",
                "random_normal", "identity", "zeros", "orthogonal",
                {"class_name": "VarianceScaling",
                 "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"}}]
# (mesh shape, partition spec, array shape)
LAYOUTS = {
    "xy": ((2, 4), ("x", "y"), (16, 24)),
    "y-cols": ((2, 4), (None, "y"), (16, 24)),
    "y-rows": ((2, 4), ("y", None), (16, 24)),
    "xy-flat": ((2, 4), (("x", "y"),), (16, 24)),
    "replicated": ((2, 4), (), (16, 24)),
    "conv": ((2, 4), (None, None, "x", "y"), (3, 3, 8, 16)),
    "8-way": ((8,), ("d",), (32, 5)),
}
DTYPES = ["float32", "bfloat16"]
CASES = [(i, n, d) for i in range(len(INITIALIZERS)) for n in LAYOUTS for d in DTYPES
         if not (INITIALIZERS[i] == "identity" and n == "conv")]  # identity is 2-D only


def _bits(a) -> np.ndarray:
    a = np.ascontiguousarray(np.asarray(a))
    return a.view(np.uint16 if a.dtype.itemsize == 2 else np.uint32)


def _key(case) -> str:
    init, layout, dtype = case
    return f"{init}-{layout}-{dtype}"


# --- the worker: 8 host devices ----------------------------------------------------------


def worker(out: str) -> None:
    """Make every case sharded and unsharded; save their bits and what each device made."""
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    assert len(jax.devices()) == 8, jax.devices()
    asked = []
    real_make_block = gj.make_block

    def logged(initializer, shape, dtype, seed, index, device="cpu"):
        block = real_make_block(initializer, shape, dtype, seed, index, device)
        asked.append(block.shape)
        return block

    gj.make_block = logged
    saved = {}
    for case in CASES:
        init, layout, dtype = case
        mesh_shape, spec, shape = LAYOUTS[layout]
        names = ("x", "y") if len(mesh_shape) == 2 else ("d",)
        mesh = Mesh(np.array(jax.devices()).reshape(mesh_shape), names)
        asked.clear()
        sharded = gj.array(INITIALIZERS[init], shape, dtype,
                           sharding=NamedSharding(mesh, P(*spec)), seed=SEED)
        key = _key(case)
        saved[f"{key}/sharded"] = _bits(sharded)
        saved[f"{key}/asked"] = np.array([tuple(a) for a in asked], dtype=np.int64).reshape(
            len(asked), len(shape))
        for n, shard in enumerate(sorted(sharded.addressable_shards, key=lambda s: s.device.id)):
            saved[f"{key}/shard{n}"] = _bits(shard.data)
            saved[f"{key}/index{n}"] = np.array(
                [s.indices(m)[:2] for s, m in zip(shard.index, shape, strict=True)])
        saved[f"{key}/devices"] = np.array(sorted(d.id for d in sharded.devices()))
    np.savez(os.path.join(out, "jax.npz"), **saved)


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("jax")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, __file__, str(out)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    with np.load(out / "jax.npz") as saved:
        return dict(saved)


def _numpy(case) -> np.ndarray:
    init, layout, dtype = case
    shape = LAYOUTS[layout][2]
    return gi.initializers.get(INITIALIZERS[init])(shape, dtype, "cpu", seed=SEED)


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_key)
def test_sharded_array_equals_the_numpy_array_bit_for_bit(sharded, case):
    assert np.array_equal(sharded[f"{_key(case)}/sharded"], _bits(_numpy(case)))


@pytest.mark.parametrize("case", CASES, ids=_key)
def test_each_device_holds_its_block_of_the_whole_tensor(sharded, case):
    key, want = _key(case), _bits(_numpy(case))
    assert sharded[f"{key}/devices"].tolist() == list(range(8))
    for n in range(8):
        index = tuple(slice(lo, hi) for lo, hi in sharded[f"{key}/index{n}"])
        assert np.array_equal(sharded[f"{key}/shard{n}"], want[index]), (key, n)


@pytest.mark.parametrize("layout", [n for n in LAYOUTS if n != "replicated"])
def test_each_device_makes_only_its_own_block(sharded, layout):
    for init in range(len(INITIALIZERS)):
        if INITIALIZERS[init] == "orthogonal" or (init, layout, "float32") not in CASES:
            continue  # orthogonal needs the whole matrix: made once on the host, then placed
        asked = sharded[f"{init}-{layout}-float32/asked"]
        whole = LAYOUTS[layout][2]
        assert len(asked) == 8, (init, layout)
        assert all(tuple(block) != whole for block in asked), (init, layout)
        split = np.prod(whole) // np.prod(asked[0])
        assert split == (8 if layout in ("xy", "xy-flat", "conv", "8-way") else 4)


def test_orthogonal_is_made_whole_once_and_placed(sharded):
    orthogonal = INITIALIZERS.index("orthogonal")
    assert len(sharded[f"{orthogonal}-xy-float32/asked"]) == 0
    q = sharded[f"{orthogonal}-y-cols-float32/sharded"].view(np.float32).astype(np.float64)
    assert np.allclose(q @ q.T, np.eye(16), atol=1e-5)  # 16 x 24: orthonormal rows


@pytest.mark.parametrize("dtype", DTYPES)
def test_unsharded_array_equals_the_numpy_array(dtype):
    for init in INITIALIZERS:
        values = gj.array(init, (12, 10), dtype, seed=SEED)
        assert values.dtype == jnp.dtype(dtype)
        want = gi.initializers.get(init)((12, 10), dtype, "cpu", seed=SEED)
        assert np.array_equal(_bits(values), _bits(want)), init


def test_seed_is_fixed_at_the_call_like_gpuinit_dask():
    own = gi.initializers.HeNormal(seed=3)
    assert np.array_equal(gj.array(own, (6, 4), seed=99), gj.array("he_normal", (6, 4), seed=3))
    gi.manual_seed(123)
    first, second = gj.array("he_normal", (6, 4)), gj.array("he_normal", (6, 4))
    gi.manual_seed(123)
    seed = gi.seeding.next_seed()
    assert np.array_equal(first, gj.array("he_normal", (6, 4), seed=seed))
    assert not np.array_equal(first, second)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="sharding"):
        gj.array("he_normal", (4, 4), sharding="x", seed=0)
    with pytest.raises(ValueError):
        gj.array("he_normal", (4, -1), seed=0)
    with pytest.raises(ValueError, match="own seed"):
        gj.initializer(gi.initializers.GlorotUniform(seed=1))


def test_initializer_same_key_same_array_different_keys_different_arrays():
    f = gj.initializer("glorot_uniform")
    key = jax.random.key(5)
    a, b = f(key, (8, 6)), f(key, (8, 6))
    assert np.array_equal(_bits(a), _bits(b))
    assert not np.array_equal(a, f(jax.random.key(6), (8, 6)))
    assert np.array_equal(a, gj.array("glorot_uniform", (8, 6), seed=5))
    assert np.array_equal(a, f(jax.random.PRNGKey(5), (8, 6)))  # a raw uint32 key


def test_initializer_is_a_flax_style_kernel_init():
    f = gj.initializer("he_normal")
    kernel = f(jax.random.key(0), (3, 3, 4, 8), jnp.bfloat16)  # Flax calls (key, shape, dtype)
    assert kernel.shape == (3, 3, 4, 8) and kernel.dtype == jnp.bfloat16
    want = gi.initializers.get("he_normal")((3, 3, 4, 8), "bfloat16", "cpu", seed=0)
    assert np.array_equal(_bits(kernel), _bits(want))


def test_initializer_dtype_is_the_default_of_its_function_as_in_jax_nn_initializers():
    key = jax.random.key(3)
    f = gj.initializer("he_normal", dtype=jnp.bfloat16)
    theirs = jax.nn.initializers.he_normal(dtype=jnp.bfloat16)
    assert f(key, (4, 3)).dtype == theirs(key, (4, 3)).dtype == jnp.bfloat16
    want = gi.initializers.get("he_normal")((4, 3), "bfloat16", "cpu", seed=3)
    assert np.array_equal(_bits(f(key, (4, 3))), _bits(want))
    assert jax.jit(lambda k: f(k, (4, 3)))(key).dtype == jnp.bfloat16
    # A dtype given to the function wins, as it does in JAX (Flax passes param_dtype).
    assert f(key, (4, 3), jnp.float16).dtype == theirs(key, (4, 3), jnp.float16).dtype
    assert f(key, (4, 3), jnp.float16).dtype == jnp.float16
    assert gj.initializer("zeros", dtype="int32")(key, (2,)).dtype == jnp.int32



@pytest.fixture
def x64_off():
    if jax.config.jax_enable_x64:
        pytest.skip("checks what happens with jax_enable_x64 off")


@pytest.mark.parametrize("init,dtype,made_as", [("orthogonal", "float64", "float32"),
                                                ("orthogonal", "complex128", "complex64"),
                                                ({"class_name": "Constant",
                                                  "config": {"value": 3}}, "int64", "int32")])
def test_array_with_x64_off_makes_a_64_bit_dtype_as_jax_does_and_warns(x64_off, init, dtype,
                                                                        made_as):
    with pytest.warns(UserWarning, match=f"dtype {dtype} requested in gpuinit.jax.array is "
                      f"not available, and will be truncated to dtype {made_as}"):
        values = gj.array(init, (4, 3), dtype, seed=SEED)
    assert values.dtype == jnp.dtype(made_as)
    want = gi.initializers.get(init)((4, 3), made_as, "cpu", seed=SEED)
    assert np.array_equal(np.asarray(values), want)
    with pytest.warns(UserWarning, match="jax_enable_x64"):
        jnp.zeros(3, dtype=dtype)  # JAX's own warning for the same request


def test_initializer_with_x64_off_warns_only_for_an_explicit_64_bit_dtype(x64_off):
    key = jax.random.key(SEED)
    f = gj.initializer("he_normal")
    with pytest.warns(UserWarning, match="dtype float64 requested in gpuinit.jax.initializer"):
        assert f(key, (4, 3), "float64").dtype == jnp.float32
    with pytest.warns(UserWarning, match="dtype float64 requested in gpuinit.jax.initializer"):
        assert gj.initializer("he_normal", dtype="float64")(key, (4, 3)).dtype == jnp.float32
    with pytest.warns(UserWarning, match="dtype float64 requested in gpuinit.jax.initializer"):
        assert jax.jit(lambda k: f(k, (4, 3), "float64"))(key).dtype == jnp.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(key, (4, 3)).dtype == jnp.float32  # None: JAX's default float dtype
        assert f(key, (4, 3), "float32").dtype == jnp.float32
        assert gj.array("he_normal", (4, 3), seed=SEED).dtype == jnp.float32


def test_with_x64_on_a_64_bit_dtype_is_made_without_warning():
    was = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            values = gj.array("orthogonal", (4, 3), "float64", seed=SEED)
            made = gj.initializer("he_normal")(jax.random.key(SEED), (4, 3), "float64")
    finally:
        jax.config.update("jax_enable_x64", was)
    assert values.dtype == jnp.float64 and made.dtype == jnp.float64
    want = gi.initializers.get("orthogonal")((4, 3), "float64", "cpu", seed=SEED)
    assert np.array_equal(np.asarray(values), want)

@pytest.mark.parametrize("dtype", ["no_such_dtype", 3, object, "U4", "float8_e4m3fn"])
def test_initializer_refuses_a_bad_dtype_when_made(dtype):
    with pytest.raises(TypeError, match=r"dtype="):
        gj.initializer("he_normal", dtype=dtype)


def test_initializer_under_jit_and_vmap_gives_the_eager_arrays():
    f = gj.initializer("truncated_normal")
    key = jax.random.key(9)
    jitted = jax.jit(lambda k: f(k, (5, 7)))(key)
    assert np.array_equal(_bits(jitted), _bits(f(key, (5, 7))))
    keys = jax.random.split(key, 3)
    stacked = jax.vmap(lambda k: f(k, (5, 7)))(keys)
    for n in range(3):
        assert np.array_equal(_bits(stacked[n]), _bits(f(keys[n], (5, 7))))


def test_key_seed_rule():
    assert gj.key_seed(jax.random.key(42)) == 42
    assert gj.key_seed(jax.random.PRNGKey(7)) == 7
    rbg = jax.random.key(1, impl="rbg")  # four words: hashed
    words = np.asarray(jax.random.key_data(rbg), dtype=np.uint32)
    assert words.size == 4 and gj.key_seed(rbg) == gj._words_seed(words)
    assert gj.key_seed(rbg) != gj.key_seed(jax.random.key(2, impl="rbg"))


@pytest.mark.cuda
def test_gpu_shards_are_made_on_their_gpus_and_equal_the_numpy_array():
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        pytest.skip("this JAX has no GPU backend (pip install 'jax[cuda12]')")
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = Mesh(np.array(gpus), ("d",))
    for init in ("he_normal", "glorot_uniform"):  # exact on CPU and GPU alike
        for dtype in DTYPES:
            values = gj.array(init, (len(gpus) * 512, 384), dtype,
                              sharding=NamedSharding(mesh, P("d")), seed=SEED)
            assert all(s.device.platform == "gpu" for s in values.addressable_shards)
            want = gi.initializers.get(init)((len(gpus) * 512, 384), dtype, "cpu", seed=SEED)
            assert np.array_equal(_bits(values), _bits(want)), (init, dtype)


if __name__ == "__main__":
    worker(sys.argv[1])


def test_jax_does_not_take_the_gpu_from_the_rest_of_the_suite():
    # Set by conftest.py before JAX's first use: without it JAX's GPU client holds 75% of
    # the device in this process, and torch, CuPy and the out-of-memory tests get the rest.
    assert os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE") == "false"
    jax.numpy.zeros(1).block_until_ready()  # the client started under that setting
