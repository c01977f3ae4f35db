"""Prepare, then fill: every check first, no write and no seed drawn; then each tensor is
sampled once.  And the traced Keras call: one shape check, one derivation of the fans."""

import numpy as np
import pytest
import torch
from torch import nn

import gpuinit as gi
from gpuinit import arguments, random
from gpuinit.initializers import random_laws
from gpuinit.torch import init_module, materialize


def _counting(monkeypatch, module, name):
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_he_normal_checks_its_shape_once_and_derives_its_fans_once(monkeypatch):
    expected = gi.initializers.HeNormal(seed=0)((3, 3, 64, 128))
    shapes = _counting(monkeypatch, arguments, "_checked_shape")
    fans = _counting(monkeypatch, random_laws, "keras_fans")
    ranges = _counting(monkeypatch, random, "_range_check")
    seeds = _counting(monkeypatch, random, "check_seed")
    values = gi.initializers.HeNormal(seed=0)((3, 3, 64, 128))
    assert len(shapes) == 1 and len(fans) == 1 and len(ranges) == 1 and len(seeds) == 1
    np.testing.assert_array_equal(values, expected)


def test_a_checked_shape_is_not_checked_again():
    shape = arguments.check_shape([3, 4])
    assert shape == (3, 4) and isinstance(shape, tuple)
    assert arguments.check_shape(shape) is shape
    assert repr(shape) == "(3, 4)"
    with pytest.raises(ValueError, match="shape"):
        arguments.check_shape((3, -1))


def test_a_range_error_names_the_initializers_arguments_and_the_dtype():
    with pytest.raises(ValueError, match="scale=1000000000000.0.*float16"):
        gi.initializers.VarianceScaling(1e12, seed=0)((2, 2), dtype="float16")
    with pytest.raises(ValueError, match="stddev=1000000.0.*float16"):
        gi.initializers.RandomNormal(stddev=1e6, seed=0)((2, 2), dtype="float16")


def test_prepare_checks_everything_and_writes_nothing():
    t = np.full((6, 4), 7.0, np.float32)
    gi.manual_seed(3)
    prepared = gi.init.prepare(gi.init.normal_, t, 0.0, 2.0)
    assert (t == 7.0).all()
    with pytest.raises(ValueError, match="std"):
        gi.init.prepare(gi.init.normal_, t, 0.0, -1.0)
    with pytest.raises(TypeError, match="function"):
        gi.init.prepare(np.zeros, t)
    gi.manual_seed(3)
    expected = gi.init.normal_(np.empty((6, 4), np.float32), 0.0, 2.0)
    gi.manual_seed(3)
    prepared.run()  # the seed is drawn now, the first of the sequence
    np.testing.assert_array_equal(t, expected)


def test_random_prepare_runs_what_the_call_returns():
    launch = random.prepare(random.uniform, (5, 3), -1.0, 1.0, seed=4, device="cpu")
    np.testing.assert_array_equal(launch.run(), random.uniform((5, 3), -1.0, 1.0, seed=4,
                                                                device="cpu"))
    with pytest.raises(TypeError, match="sampler"):
        random.prepare(np.random.rand, (2,))


def _model():
    return nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 4))


def test_materialize_samples_each_tensor_once(monkeypatch):
    runs = _counting(monkeypatch, random.Launch, "run")
    with torch.device("meta"):
        model = _model()
    materialize(model, "cpu", seed=1)
    assert len(runs) == 4  # two weights and two biases; the norm's are constants
    built = init_module(_model(), seed=1)
    for (name, a), b in zip(model.state_dict().items(), built.state_dict().values(),
                            strict=True):
        assert torch.equal(a, b), name


def test_a_user_fill_runs_once_after_every_check_and_is_named_in_its_error():
    calls = []

    def mine(t, *, seed, stream):
        calls.append(t.shape)
        t.fill_(1.0)

    model = _model()
    with pytest.raises(ValueError, match="2.weight"):
        init_module(model, scheme={"0.weight": mine, "2.weight": ("kaiming_normal_",
                                                                  {"mode": "fan"})})
    assert calls == []  # the bad option after it in plan order raised first
    init_module(model, scheme={"0.weight": mine})
    assert calls == [torch.Size([16, 8])] and bool((model[0].weight == 1).all())

    def broken(t, *, seed, stream):
        raise ZeroDivisionError("mine")

    with pytest.raises(ZeroDivisionError) as raised:
        init_module(model, scheme={"2.weight": broken})
    assert any("2.weight" in note for note in raised.value.__notes__)


def test_a_laws_record_is_a_scheme_value_filled_in_place_and_described():
    from gpuinit import laws
    from gpuinit.torch import describe

    record = laws.TruncatedNormal(0.1, 0.02, -2.0, 2.0)
    model = _model()
    init_module(model, seed=2, scheme={"*.weight": record})
    weight = model[0].weight.detach()
    expected = record.sample((16, 8), seed=2, stream=weight_stream("0.weight"), device="cpu")
    np.testing.assert_array_equal(weight.numpy(), expected)
    row = {r["tensor"]: r for r in describe(model, scheme={"*.weight": record})}["0.weight"]
    assert row["law"] == record.text() and row["bounds"] == record.bounds
    assert abs(row["std"] - record.moments()[1]) < 1e-12
    assert laws.Uniform(-1.0, 1.0).bounds == (-1.0, 1.0)
    assert laws.Normal(0.0, 1.0).bounds is None
    t = np.empty((4, 5), np.float32)
    gi.init.prepare_law(t, laws.Normal(0.0, 3.0), seed=1).run()
    np.testing.assert_array_equal(t, gi.init.normal_(np.empty((4, 5), np.float32), 0.0, 3.0,
                                                     seed=1))


def weight_stream(name):
    from gpuinit.layers.parameter import path_stream

    return path_stream(name)
