"""Layers on a real GPU: parameters stay on the device, and equal the CPU build."""

import numpy as np
import pytest

import gpuinit as gi
from gpuinit.layers import (
    LSTM,
    BatchNormalization,
    Conv2D,
    Dense,
    Embedding,
    Input,
    Parameter,
    Sequential,
    build_gpt,
)

pytestmark = pytest.mark.cuda


def _layers(shared):
    return [Input((8, 8, 3)), Conv2D(4, 3, weight="he_normal"), BatchNormalization(),
            Conv2D(4, 3, weight=shared), Conv2D(4, 1, weight=np.ones((1, 1, 4, 4))),
            Dense(6, weight=gi.initializers.TruncatedNormal(stddev=0.1))]


def test_building_on_the_gpu_makes_cupy_parameters_and_copies_nothing_to_the_host(monkeypatch):
    import cupy

    def no_host_copy(self):
        raise AssertionError(f"{self.name} was copied to the host while building")

    monkeypatch.setattr(Parameter, "numpy", no_host_copy)
    model = Sequential(_layers(Parameter("glorot_uniform")), seed=3, device="cuda")
    gpt = build_gpt("tiny", device="cuda")
    for parameter in [*model.parameters.values(), *gpt.values()]:
        assert isinstance(parameter.data, cupy.ndarray)
        assert parameter.data.device.id == 0 and parameter.device == gi.device("cuda:0")
    y = model(cupy.ones((2, 8, 8, 3), cupy.float32))
    assert isinstance(y, cupy.ndarray) and y.shape == (2, 4, 4, 6)


def test_gpu_and_cpu_builds_have_the_same_weights():
    cpu = Sequential(_layers(Parameter("glorot_uniform")), seed=3, device="cpu")
    gpu = Sequential(_layers(Parameter("glorot_uniform")), seed=3, device="cuda")
    for (path, a), b in zip(cpu.parameters.items(), gpu.get_weights(), strict=True):
        np.testing.assert_array_equal(a.numpy(), b, err_msg=path)


def test_recurrent_and_embedding_layers_on_the_gpu_match_the_cpu():
    layers = lambda: [Input(5), Embedding(50, 8), LSTM(6)]  # noqa: E731
    cpu = Sequential(layers(), seed=1, device="cpu")
    gpu = Sequential(layers(), seed=1, device="cuda")
    for (path, a), b in zip(cpu.parameters.items(), gpu.get_weights(), strict=True):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-6, err_msg=path)  # orthogonal: QR
    x = np.array([[1, 2, 3, 4, 49]])
    np.testing.assert_allclose(cpu(x), gpu(x).get(), rtol=1e-5, atol=1e-6)
