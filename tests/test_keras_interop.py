"""gpuinit's initializers in Keras' own serialization: Keras models that use gpuinit-only
initializers (Dirac, DeltaOrthogonal, Sparse) save and load without custom_objects."""

import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gpuinit as gi
from gpuinit import initializers as I
from gpuinit.initializers import keras_interop
from gpuinit.initializers.catalogue import builtin_classes

keras = pytest.importorskip("keras")

_SAVE = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import gpuinit as gi  # before Keras: register_with_keras() is then called by hand
import keras
gi.initializers.register_with_keras()
model = keras.Sequential([
    keras.Input((6, 6, 4)),
    keras.layers.Conv2D(8, 3, kernel_initializer=gi.initializers.DeltaOrthogonal(seed=1)),
    keras.layers.Conv2D(8, 3, kernel_initializer=gi.initializers.Dirac()),
    keras.layers.Flatten(),
    keras.layers.Dense(3, kernel_initializer=gi.initializers.Sparse(0.5, seed=2)),
])
model.save(sys.argv[1])
"""

_LOAD = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import keras
import gpuinit  # after Keras: registers itself
model = keras.models.load_model(sys.argv[1])
print(",".join(type(layer.kernel_initializer).__name__ for layer in model.layers
               if hasattr(layer, "kernel_initializer")))
"""


def _python(script, *args):
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


@pytest.mark.slow  # two fresh processes that import Keras and torch
def test_a_keras_model_using_gpuinit_only_initializers_saves_and_loads(tmp_path):
    path = str(tmp_path / "model.keras")
    _python(_SAVE, path)
    assert _python(_LOAD, path) == "DeltaOrthogonal,Dirac,Sparse"


_SAVE_WITHOUT_REGISTERING = """
import os, sys
os.environ["KERAS_BACKEND"] = "torch"
import gpuinit as gi  # before Keras, and register_with_keras() never called
import keras
model = keras.Sequential([
    keras.Input((6,)),
    keras.layers.Dense(4, kernel_initializer=gi.initializers.HeNormal(seed=1)),
    keras.layers.Dense(3, kernel_initializer=gi.initializers.Sparse(0.5, seed=2)),
])
model.save(sys.argv[1])
"""

_LOAD_MODULES = _LOAD.replace("type(layer.kernel_initializer).__name__",
                              "type(layer.kernel_initializer).__module__.split('.')[0] + '.' "
                              "+ type(layer.kernel_initializer).__name__")


@pytest.mark.slow  # two fresh processes that import Keras and torch
def test_a_model_saved_by_a_process_that_imported_gpuinit_first_loads_gpuinit_s_classes(
        tmp_path):
    # Keras names a saved object by its registry's name for the class, read after the
    # object's get_config: that registers gpuinit's classes, so neither HeNormal turns
    # into Keras' class nor Sparse fails to load.
    path = str(tmp_path / "model.keras")
    _python(_SAVE_WITHOUT_REGISTERING, path)
    assert _python(_LOAD_MODULES, path) == "gpuinit.HeNormal,gpuinit.Sparse"


@pytest.mark.parametrize("init", [gi.initializers.Dirac(groups=2),
                                  gi.initializers.DeltaOrthogonal(scale=2.0, seed=3),
                                  gi.initializers.Sparse(0.25, seed=4)])
def test_keras_deserializes_gpuinit_configs_to_gpuinit_classes(init):
    gi.initializers.register_with_keras()
    config = gi.initializers.serialize(init)
    assert config["registered_name"] == f"gpuinit>{type(init).__name__}"
    back = keras.initializers.deserialize(config)
    assert type(back) is type(init) and back.get_config() == init.get_config()
    layer = keras.layers.Dense(4, kernel_initializer=config) if isinstance(
        init, gi.initializers.Sparse) else keras.layers.Conv2D(4, 3, kernel_initializer=config)
    assert type(layer.kernel_initializer) is type(init)
    # Keras' own serialization of the object comes back through gpuinit too.
    assert gi.initializers.deserialize(keras.saving.serialize_keras_object(init)) == init


def test_configs_of_keras_classes_stay_keras_readable():
    config = gi.initializers.serialize(gi.initializers.HeNormal(seed=3))
    assert config["registered_name"] is None
    assert type(keras.initializers.deserialize(config)).__name__ == "HeNormal"


SHAPE = (3, 4, 6)
PRESETS = [I.GlorotUniform, I.GlorotNormal, I.HeUniform, I.HeNormal, I.LecunUniform,
           I.LecunNormal]

# Each option of a gpuinit class that Keras' class of the same name does not take, or
# takes with other values.
GPUINIT_ONLY_OPTIONS = [
    I.TruncatedNormal(0.5, 2.0, seed=3, lower=-1.0, upper=3.0),
    I.TruncatedNormal(seed=3, upper=1.5),
    I.Orthogonal(2.0, seed=3, column_axis=0),
    I.VarianceScaling(2.0, "fan_geo_avg", "uniform", seed=3),
    I.VarianceScaling(seed=3, input_axes=[0, 2], output_axes=1, distribution="normal",
                      mode="fan_geo_avg"),
    I.VarianceScaling(1.0, "fan_in", "normal", seed=3, in_axis=1, out_axis=0),
    I.VarianceScaling(2.0, "fan_out", "uniform", seed=3, batch_axis=0),
    *[preset(seed=3, in_axis=-1, out_axis=-2) for preset in PRESETS],
    *[preset(seed=3, batch_axis=[0]) for preset in PRESETS],
    # Keras' JAX backend makes a uint32 key of a seed: 2^32 and above overflow there.
    I.HeNormal(seed=1 << 32), I.RandomNormal(seed=(1 << 64) - 1), I.Orthogonal(seed=1 << 40),
]

PLAIN = [
    I.Zeros(), I.Ones(), I.Constant(2.5), I.Identity(2.0),
    I.RandomUniform(-1.0, 1.0, seed=3), I.RandomNormal(0.5, 2.0, seed=3),
    I.TruncatedNormal(0.5, 2.0, seed=3), I.TruncatedNormal(seed=3, lower=-2.0, upper=2.0),
    I.Orthogonal(2.0, seed=3), I.Orthogonal(seed=3, column_axis=-1),
    I.VarianceScaling(2.0, "fan_avg", "uniform", seed=3),
    I.VarianceScaling(seed=3, input_axes=[0, 1], output_axes=[2], mode="fan_out"),
    *[preset(seed=3) for preset in PRESETS], I.HeNormal(seed=3, input_axes=0, output_axes=[1]),
    I.STFT("imag", "hann", "spectrum", True), I.STFT(window=[1.0, 2.0, 3.0], scaling=None),
]


def _id(init):
    return repr(init)


@pytest.mark.parametrize("init", GPUINIT_ONLY_OPTIONS, ids=_id)
def test_gpuinit_only_options_serialize_under_gpuinits_registered_name(init):
    config = I.serialize(init)
    assert config["registered_name"] == f"gpuinit>{type(init).__name__}"
    assert not keras_interop.keras_reads_config(type(init).__name__, config["config"])
    saved = json.loads(json.dumps(config))  # as a .keras file holds it
    for back in (keras.initializers.deserialize(saved), I.deserialize(saved)):
        assert type(back) is type(init)
        assert back.get_config() == init.get_config()
        np.testing.assert_array_equal(back(SHAPE, device="cpu"), init(SHAPE, device="cpu"))
    layer = keras.layers.Dense(4, kernel_initializer=saved)
    assert layer.kernel_initializer == init


@pytest.mark.parametrize("init", PLAIN, ids=_id)
def test_plain_configs_stay_configs_of_keras_classes(init):
    name = type(init).__name__
    config = I.serialize(init)
    assert config["registered_name"] is None
    assert config["module"] == "gpuinit.initializers"
    assert keras_interop.keras_reads_config(name, config["config"])
    back = keras.initializers.deserialize(json.loads(json.dumps(config)))
    assert type(back) is getattr(keras.initializers, name)
    # Keras' class holds each argument as an attribute (its Identity's config drops gain).
    assert {key: getattr(back, key) for key in config["config"]} == config["config"]
    assert I.deserialize(config) == init


def test_keras_arguments_are_keras_constructor_arguments():
    keras_classes = {name for name in dir(keras.initializers)
                     if isinstance(getattr(keras.initializers, name), type)
                     and issubclass(getattr(keras.initializers, name),
                                    keras.initializers.Initializer)}
    namesakes = {cls.__name__ for cls in builtin_classes()} & keras_classes
    assert namesakes == set(keras_interop.KERAS_ARGUMENTS)
    for name, arguments in keras_interop.KERAS_ARGUMENTS.items():
        cls = getattr(keras.initializers, name)
        assert set(arguments) == set(inspect.signature(cls).parameters), name
        for argument, values in arguments.items():
            for value in values if isinstance(values, tuple) else ():
                cls(**{argument: value})  # Keras takes every value listed
    with pytest.raises(ValueError, match="mode"):
        keras.initializers.VarianceScaling(mode="fan_geo_avg")


_SEEDED_BY_KERAS = """
import os
os.environ["KERAS_BACKEND"] = "torch"
import keras
import gpuinit as gi
def kernel():
    layer = keras.layers.Dense(5, kernel_initializer=gi.initializers.HeNormal())
    layer.build((None, 4))
    return keras.ops.convert_to_numpy(layer.kernel).tobytes().hex()
keras.utils.set_random_seed(7)
first = kernel()
keras.utils.set_random_seed(7)
assert kernel() == first  # set again, the same weights
gi.manual_seed(3)  # gpuinit's own seeding rules from then on
ours = gi.initializers.HeNormal()((4, 5)).tobytes().hex()
gi.manual_seed(3)
keras.utils.set_random_seed(8)
assert gi.initializers.HeNormal()((4, 5)).tobytes().hex() == ours
print(first)
"""


@pytest.mark.slow  # two fresh processes that import Keras and torch
def test_keras_set_random_seed_makes_unseeded_initializers_reproducible():
    # As it makes Keras' own: their seeds come from Python's random module, which
    # keras.utils.set_random_seed seeds; gi.manual_seed, once called, rules instead.
    assert _python(_SEEDED_BY_KERAS) == _python(_SEEDED_BY_KERAS)


def test_a_layer_given_a_keras_initializer_has_a_json_config_that_rebuilds_it():
    from gpuinit.layers import Dense, Input, MultiHeadAttention, Sequential

    for layer, name, seed in (
            (Dense(3, kernel_initializer=keras.initializers.HeNormal(seed=3)), "HeNormal", 3),
            (MultiHeadAttention(num_heads=2, key_dim=4,
                                kernel_initializer=keras.initializers.GlorotUniform(7)),
             "GlorotUniform", 7)):
        config = json.loads(json.dumps(layer.get_config()))  # no live Keras object in it
        held = config["weight"]
        assert held["class_name"] == name and held["config"]["seed"] == seed
        again = type(layer).from_config(config)  # the gpuinit namesake, with its seed
        shape = (5,) if isinstance(layer, Dense) else (3, 8)
        model = Sequential([Input(shape), again], seed=1, device="cpu")
        assert model.get_weights() and json.dumps(again.get_config())
