"""String ids, get, serialize/deserialize (ours and Keras 3's) and custom initializers."""

import re
import subprocess
import sys

import numpy as np
import pytest

import gpuinit as gi
from gpuinit import initializers as I

ALIASES = {"xavier_uniform": I.GlorotUniform, "xavier_normal": I.GlorotNormal,
           "kaiming_uniform": I.HeUniform, "kaiming_normal": I.HeNormal,
           "uniform": I.RandomUniform, "normal": I.RandomNormal, "zero": I.Zeros,
           "one": I.Ones, "eye": I.Identity, "GlorotUniform": I.GlorotUniform,
           "IdentityInitializer": I.Identity, "HE_NORMAL": I.HeNormal}


@pytest.mark.parametrize("name", I.ids())
def test_every_id_gets_an_initializer_that_round_trips(name):
    init = I.get(name)
    assert isinstance(init, I.Initializer)
    config = I.serialize(init)
    assert config["class_name"] == type(init).__name__
    assert I.deserialize(config) == init
    assert type(init).from_config(init.get_config()) == init


@pytest.mark.parametrize(("name", "cls"), list(ALIASES.items()))
def test_aliases(name, cls):
    assert type(I.get(name)) is cls


def test_unknown_id_lists_close_matches():
    with pytest.raises(ValueError, match="glorot_uniform"):
        I.get("glorot_unifrom")


def test_get_passes_through_and_refuses_junk():
    init = I.HeNormal(seed=1)
    assert I.get(init) is init
    assert I.get(None) is None
    assert isinstance(I.get(I.Ones), I.Ones)
    with pytest.raises(TypeError, match="cannot interpret"):
        I.get(3.5)
    with pytest.raises(ValueError, match="class_name"):
        I.deserialize({"config": {}})


def test_config_is_exactly_the_constructor_arguments():
    init = I.VarianceScaling(2.0, "fan_out", "uniform", seed=5)
    assert init.get_config() == {"scale": 2.0, "mode": "fan_out", "distribution": "uniform",
                                 "seed": 5, "input_axes": None, "output_axes": None}
    copy = I.deserialize(I.serialize(init))
    np.testing.assert_array_equal(copy((4, 6), device="cpu"), init((4, 6), device="cpu"))


KERAS_NAMES = ["Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal", "TruncatedNormal",
               "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal",
               "LecunUniform", "LecunNormal", "Orthogonal", "Identity"]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_deserializes_keras_3_serialize_output(name):
    keras = pytest.importorskip("keras")
    ours = I.deserialize(keras.initializers.serialize(getattr(keras.initializers, name)()))
    assert type(ours).__name__ == name


def test_keras_configs_with_arguments_keep_them():
    keras = pytest.importorskip("keras")
    config = keras.initializers.serialize(
        keras.initializers.VarianceScaling(3.0, "fan_avg", "uniform", seed=9)
    )
    ours = I.deserialize(config)
    assert (ours.scale, ours.mode, ours.distribution, ours.seed) == (3.0, "fan_avg", "uniform", 9)
    keras_seeded = keras.initializers.serialize(
        keras.initializers.RandomNormal(0.5, 2.0, seed=keras.random.SeedGenerator(11))
    )
    assert I.deserialize(keras_seeded).seed == 11


def test_plain_callable_is_an_initializer():
    def halves(shape, dtype=None):
        return np.full(shape, 0.5, dtype=dtype or "float32")

    assert I.get(halves) is halves


class KerasStyle(I.Initializer):
    def __init__(self, value=2.0):
        self.value = value

    def __call__(self, shape, dtype=None, device=None, **kwargs):
        return np.full(shape, self.value, dtype=dtype or "float32")

    def get_config(self):
        return {"value": self.value}


class NeuPyStyle(I.Initializer):
    def sample(self, shape):
        return np.arange(np.prod(shape)).reshape(shape)


def test_custom_subclasses_work_and_serialize_when_registered():
    np.testing.assert_array_equal(KerasStyle(3.0)((2,)), [3.0, 3.0])
    values = NeuPyStyle()((2, 3), dtype="float64", device="cpu")
    assert values.dtype == np.float64 and values[1, 2] == 5.0
    with pytest.raises(ValueError, match="shape"):
        wrong = type("Wrong", (I.Initializer,), {"sample": lambda self, s: np.zeros(3)})
        wrong()((2,), device="cpu")
    I.register("KerasStyle")(KerasStyle)
    config = I.serialize(KerasStyle(4.0))
    assert config["registered_name"] == "KerasStyle"
    assert I.deserialize(config) == KerasStyle(4.0)
    assert isinstance(I.get("KerasStyle"), KerasStyle)
    with pytest.raises(ValueError):
        I.deserialize({"class_name": "Unregistered", "config": {}})
    assert isinstance(I.deserialize({"class_name": "Mine", "config": {}},
                                    custom_objects={"Mine": NeuPyStyle}), NeuPyStyle)


def test_unserializable_callable_says_how_to_fix_it():
    with pytest.raises(TypeError, match="register"):
        I.serialize(lambda shape, dtype=None: None)


def test_top_level_names():
    assert gi.calculate_gain("relu") == gi.init.calculate_gain("relu")
    assert gi.initializers.get("he_normal") == I.HeNormal()


def _suggestions(message):
    """Return the names after "did you mean" in an unknown-id message."""
    hint = message.split("did you mean ")[1].split(". Known ids")[0]
    return re.findall(r"'([^']+)'", hint)


@pytest.mark.parametrize(("typo", "first"), [
    ("he_normall", {"he_normal"}), ("HeNormall", {"HeNormal"}),
    ("glorotuniform", {"glorot_uniform", "GlorotUniform"}), ("GlorotUnifrom", {"GlorotUniform"}),
    ("kaiming_normall", {"kaiming_normal"}), ("zeroes", {"zeros"}),
    ("Orthogonall", {"orthogonal"}),  # "Orthogonal" reads the same, ignoring case
])
def test_unknown_id_suggests_only_real_spellings(typo, first):
    with pytest.raises(ValueError, match=f"unknown initializer '{typo}'") as caught:
        I.get(typo)
    suggested = _suggestions(str(caught.value))
    assert suggested[0] in first
    known = set(I.ids()) | set(I.registry.ALIASES) | {type(I.get(k)).__name__ for k in I.ids()}
    known |= {"IdentityInitializer", "OrthogonalInitializer"}
    for name in suggested:
        assert name in known, f"{name!r} is not a spelling of any initializer"
        assert isinstance(I.get(name), I.Initializer)
    assert "henormal" not in suggested and "glorotuniform" not in suggested


# -- arrays of other libraries: JAX's, and what only looks like an array ------------------------
def test_get_of_a_jax_array_is_a_fixed_value_as_keras_takes_any_tensor():
    jnp = pytest.importorskip("jax.numpy")
    init = I.get(jnp.arange(6.0).reshape(2, 3))
    assert isinstance(init, I.FixedValue)
    np.testing.assert_array_equal(init((2, 3), device="cpu"), np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match=r"Expected `shape` to be \(2, 3\)"):
        init((3, 2), device="cpu")
    scalar = I.get(jnp.float32(2.5))  # a 0-d jax.Array, as NumPy's scalars are taken
    assert isinstance(scalar, I.FixedValue) and scalar((), device="cpu") == 2.5


class _ValuesWithoutDtype:
    """Converts to NumPy but says nothing of its dtype (as a pandas DataFrame)."""

    shape = (2,)

    def __array__(self, dtype=None, copy=None):
        return np.zeros(2)


class _DlpackOnly:
    """Has a shape and dtype but values only through DLPack, which FixedValue cannot copy."""

    shape, dtype = (2,), np.dtype("float32")

    def __dlpack__(self, stream=None):
        raise AssertionError("never read")


@pytest.mark.parametrize("value", [_ValuesWithoutDtype(), _DlpackOnly(), [1.0, 2.0]])
def test_get_refuses_what_only_looks_like_an_array(value):
    with pytest.raises(TypeError, match="cannot interpret"):
        I.get(value)


def test_get_refuses_a_jax_shape_dtype_struct():
    jax = pytest.importorskip("jax")
    with pytest.raises(TypeError, match="cannot interpret"):
        I.get(jax.ShapeDtypeStruct((2, 2), np.float32))


def test_jax_arrays_fill_layer_parameters_as_the_initializer_get_makes():
    jnp = pytest.importorskip("jax.numpy")
    from gpuinit.layers import Dense, Input, Sequential

    kernel = jnp.arange(12.0).reshape(3, 4)
    made = [Sequential([Input(3), layer], seed=0, device="cpu").get_weights()[0]
            for layer in (Dense(4, weight=kernel), Dense(4, initial_weights=kernel),
                          Dense(4, weight=I.get(kernel)))]
    for weights in made:
        np.testing.assert_array_equal(weights, np.arange(12.0).reshape(3, 4))


def test_recognising_arrays_imports_no_array_library():
    code = ("import sys, numpy, gpuinit as gi; gi.initializers.get(numpy.ones(2)); "
            "gi.initializers.get('zeros'); assert 'jax' not in sys.modules, 'jax'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_string_id_may_carry_the_name_keras_registers_gpuinits_classes_under():
    # keras.initializers.get takes "gpuinit>HeNormal" as a string: so does gpuinit's.
    assert type(I.get("gpuinit>HeNormal")) is I.HeNormal
    assert type(I.get("gpuinit>he_normal")) is I.HeNormal
    assert type(I.deserialize({"class_name": "gpuinit>Dirac", "config": {}})) is I.Dirac
    for unknown in ("gpuinit>", "gpuinit>Nope"):
        with pytest.raises(ValueError, match=f"unknown initializer '{unknown}'"):
            I.get(unknown)
