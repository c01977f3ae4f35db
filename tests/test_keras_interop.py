"""gpuinit's initializers in Keras' own serialization: Keras models that use gpuinit-only
initializers (Dirac, DeltaOrthogonal, Sparse) save and load without custom_objects."""

import os
import subprocess
import sys

import pytest

import gpuinit as gi

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
