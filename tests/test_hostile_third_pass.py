"""Bad input refused with a typed error naming the argument, third pass: fans that
overflow, scales below what the kernels resolve, seed dicts, Keras axes named twice, and
JAX keys, dtypes and shardings (eagerly and under jit)."""

import os

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.fans import axes_fans


@pytest.mark.parametrize("mode, fans, expected", [
    ("fan_geo_avg", (1e200, 1e200), 1e-200),
    ("fan_avg", (1e300, 1e300), 1e-300),
    ("fan_avg", (1e307, 3e307), 1 / 2e307),
])
def test_huge_fans_give_their_variance_not_zero(mode, fans, expected):
    variance = gi.initializers.VarianceScaling(mode=mode).variance((3, 3), fans=fans)
    assert variance == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("mode, fans", [("fan_avg", (1.7e308, 1.7e308)),
                                        ("fan_in", (1e308, 1.0))])
def test_fans_whose_variance_underflows_are_refused(mode, fans):
    with pytest.raises(ValueError, match="fans"):
        gi.initializers.VarianceScaling(mode=mode).variance((3, 3), fans=fans)


@pytest.mark.parametrize("call, argument", [
    (lambda: gi.random.normal(8, 0.0, 1e-40, seed=0), "std"),
    (lambda: gi.random.normal(8, 0.0, 1e-320, seed=0, dtype="float64"), "std"),
    (lambda: gi.random.truncated_normal(8, 0.0, 1e-39, seed=0, dtype="bfloat16"), "std"),
    (lambda: gi.random.uniform(8, 0.0, 1e-40, seed=0), "high - low"),
])
def test_scales_below_the_computing_format_are_refused(call, argument):
    with pytest.raises(ValueError, match=f"{argument}=.*smallest normal"):
        call()


def test_tiny_but_normal_scales_still_work():
    x = gi.random.normal(1000, 0.0, 1e-30, seed=0, device="cpu")
    assert 0.5e-30 < float(np.std(x.astype(np.float64))) < 2e-30


@pytest.mark.parametrize("seed", [{}, {"foo": 1}, {"config": None}, {"config": {}},
                                  {"class_name": "SeedGenerator", "config": {"name": "s"}}])
def test_seed_dicts_without_a_seed_are_refused(seed):
    with pytest.raises(ValueError, match="seed="):
        gi.initializers.HeNormal(seed=seed)


def test_a_serialized_seed_generator_still_seeds():
    init = gi.initializers.HeNormal(seed={"class_name": "SeedGenerator", "config": {"seed": 4}})
    assert init.seed == 4
    assert gi.initializers.HeNormal(seed={"config": {"seed": None}}).seed is None


@pytest.mark.parametrize("ins, outs, named", [([0, 0], [1], "input_axes"),
                                              ([0, -3], [1], "input_axes"),
                                              ([0], [2, 2], "output_axes"),
                                              ([0], [1, -2], "output_axes")])
def test_an_axis_named_twice_is_refused(ins, outs, named):
    with pytest.raises(ValueError, match=named):
        axes_fans((3, 4, 5), ins, outs)
    with pytest.raises(ValueError, match=named):
        gi.initializers.VarianceScaling(input_axes=ins, output_axes=outs)((3, 4, 5))


class TestJax:
    jax = pytest.importorskip("jax")

    @pytest.fixture(autouse=True)
    def _init(self):
        import gpuinit.jax as gj

        self.gj = gj
        self.jnp = self.jax.numpy
        self.key = self.jax.random.key(0)

    def test_a_batched_key_is_refused_as_jax_refuses_it(self):
        f = self.gj.initializer("he_normal")
        with pytest.raises(ValueError, match="accepts a single key"):
            f(self.jax.random.split(self.key, 2), (3, 4))
        shapes = self.jax.vmap(lambda k: f(k, (2, 2)))(self.jax.random.split(self.key, 3))
        assert shapes.shape == (3, 2, 2)

    @pytest.mark.parametrize("init, shape, dtype", [
        ("he_normal", (3, 4), "int32"),
        ("glorot_uniform", (3, 4), "bool"),
        ("orthogonal", (5,), "float32"),
        ({"class_name": "Sparse", "config": {"sparsity": 0.1}}, (3, 4, 5), "float32"),
        ("delta_orthogonal", (3, 3, 8, 4), "float32"),
    ])
    def test_errors_under_jit_are_the_eager_errors(self, init, shape, dtype):
        f = self.gj.initializer(init)
        with pytest.raises(ValueError) as eager:
            f(self.key, shape, self.jnp.dtype(dtype))
        with pytest.raises(ValueError) as traced:
            self.jax.jit(lambda k: f(k, shape, self.jnp.dtype(dtype)))(self.key)
        assert str(traced.value) == str(eager.value)

    def test_float64_without_x64_is_float32_eagerly_and_under_jit(self):
        if self.jax.config.jax_enable_x64:
            pytest.skip("x64 is on in this process")
        f = self.gj.initializer("he_normal")
        eager = f(self.key, (3, 4), self.jnp.float64)
        traced = self.jax.jit(lambda k: f(k, (3, 4), self.jnp.float64))(self.key)
        assert eager.dtype == traced.dtype == self.jnp.float32
        np.testing.assert_array_equal(np.asarray(eager), np.asarray(traced))

    def test_a_partition_spec_longer_than_the_shape_is_a_value_error(self):
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        devices = np.array(self.jax.devices()[:1]).reshape(1, 1)
        sharding = NamedSharding(Mesh(devices, ("x", "y")), PartitionSpec("x", "y"))
        with pytest.raises(ValueError, match="partitions 2 dimensions"):
            self.gj.array("he_normal", (16,), sharding=sharding, seed=0)


def test_conftest_keeps_jax_from_preallocating():
    assert os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE") == "false"


@pytest.mark.parametrize("make", [lambda: np.float32(2.0), lambda: np.array(2.0),
                                  lambda: np.int64(2)])
def test_zero_dimensional_hyperparameters_are_scalars(make):
    init = gi.initializers.VarianceScaling(scale=make(), seed=0)
    assert init.scale == 2.0 and isinstance(init.scale, float)
    np.testing.assert_array_equal(init((4, 3), device="cpu"),
                                  gi.initializers.VarianceScaling(scale=2.0, seed=0)((4, 3),
                                                                                       device="cpu"))
    assert init.get_config()["scale"] == 2.0


def test_zero_dimensional_torch_and_jax_hyperparameters_are_scalars():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    for value in (torch.tensor(0.5), jnp.array(0.5)):
        assert gi.initializers.RandomNormal(stddev=value).stddev == 0.5
    with pytest.raises(TypeError, match="scale"):
        gi.initializers.VarianceScaling(scale=np.array(True))
    with pytest.raises(TypeError, match="scale"):
        gi.initializers.VarianceScaling(scale=np.array([2.0]))
