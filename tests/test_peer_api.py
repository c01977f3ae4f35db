"""The peers' APIs: JAX's variance_scaling axes and complex laws, Keras 3's SeedGenerator
seeds, array identifiers and constants, STFT, clone() and error wording.

Statistical checks use fixed seeds (each statistic is a fixed number) and thresholds
with wide margins (p-values above 1e-4, moments within 6 standard errors).
"""

import math

import numpy as np
import pytest
from scipy import stats

import gpuinit as gi
from gpuinit import initializers as I

from .helpers import bits

COMPLEX = ["complex64", "complex128"]


def _keras():
    return pytest.importorskip("keras")


# -- JAX's axes and modes ---------------------------------------------------------------
@pytest.mark.parametrize(("shape", "axes", "fans"), [
    ((64, 32, 3, 3), {"in_axis": 1, "out_axis": 0}, (288, 576)),
    ((8, 5, 16, 32), {"in_axis": 1, "out_axis": (2, 3), "batch_axis": (0,)}, (5, 512)),
    ((3, 3, 16, 32), {"batch_axis": ()}, (144, 288)),
    ((2, 3, 4, 5), {"in_axis": [-4, -3], "out_axis": -1}, (24, 20)),
])
def test_jax_axes_set_the_fans_and_the_limit(shape, axes, fans):
    init = I.HeUniform(seed=0, **axes)
    assert init.fan_rule == "jax"
    assert init.fans(shape) == fans
    assert init.variance(shape) == pytest.approx(2.0 / fans[0])
    w = init(shape, device="cpu")
    limit = math.sqrt(6.0 / fans[0])
    assert np.abs(w).max() < limit
    assert np.abs(w).max() > 0.95 * limit


def test_jax_rule_refuses_rank_one_and_keras_rule_keeps_n_n():
    with pytest.raises(ValueError, match="Can't compute input and output sizes of a "
                                         "1-dimensional weights tensor with default in_axis. "
                                         "Must be at least 2D or specify in_axis explicitly."):
        I.GlorotUniform(batch_axis=())((10,), device="cpu")
    assert I.GlorotUniform().fans((10,)) == (10, 10)
    w = I.GlorotUniform(seed=0)((10,), device="cpu")
    assert np.abs(w).max() < math.sqrt(6 / 20)


@pytest.mark.parametrize(("shape", "ins", "outs"), [((2,), [0], []), ((4, 6, 8), [-1], [0]),
                                                     ((3, 3, 5, 7), [0, 1, 2], [3]),
                                                     ((5, 7), [], [])])
def test_keras_axes_match_keras_compute_fans(shape, ins, outs):
    random_initializers = pytest.importorskip("keras.src.initializers.random_initializers")
    init = I.VarianceScaling(1.0, "fan_avg", "uniform", seed=0, input_axes=ins, output_axes=outs)
    assert init.fan_rule == "keras"
    expected = random_initializers.compute_fans(shape, input_axes=ins, output_axes=outs)
    assert init.fans(shape) == expected
    assert init.variance(shape) == pytest.approx(1.0 / max(1.0, sum(expected) / 2))
    assert init(shape, device="cpu").shape == shape


def test_keras_axes_allow_an_empty_list():
    init = I.LecunUniform(seed=1, input_axes=[0], output_axes=[])
    assert init.fans((2,)) == (2, 1)
    assert init((2,), device="cpu").shape == (2,)


def test_mixing_keras_and_jax_spellings_is_refused():
    with pytest.raises(ValueError, match="not both"):
        I.VarianceScaling(input_axes=[0], output_axes=[1], in_axis=0)
    with pytest.raises(ValueError, match="not both"):
        I.HeNormal(input_axes=[0], output_axes=[1], batch_axis=())
    with pytest.raises(ValueError, match="together"):
        I.VarianceScaling(input_axes=[0])
    with pytest.raises(TypeError, match="in_axis"):
        I.VarianceScaling(in_axis="0")


def test_normal_means_truncated_for_keras_and_untruncated_for_jax():
    keras_style = I.VarianceScaling(1.0, "fan_in", "normal", seed=3)
    jax_style = I.VarianceScaling(1.0, "fan_in", "normal", seed=3, batch_axis=())
    assert keras_style.distribution == "truncated_normal"
    assert jax_style.distribution == "untruncated_normal"
    shape = (400, 300)
    sigma = math.sqrt(1 / 400)
    jax_values = jax_style(shape, device="cpu").ravel()
    assert stats.kstest(jax_values, stats.norm(0, sigma).cdf).pvalue > 1e-4
    assert np.abs(jax_values).max() > 3 * sigma  # untruncated
    keras_values = keras_style(shape, device="cpu")
    assert np.abs(keras_values).max() <= 2 * sigma / 0.87962566103423978


@pytest.mark.parametrize("axes", [{}, {"in_axis": 0, "out_axis": 1}])
def test_fan_geo_avg_uses_the_geometric_mean(axes):
    shape = (400, 100)
    init = I.VarianceScaling(2.0, "fan_geo_avg", "untruncated_normal", seed=4, **axes)
    assert init.variance(shape) == pytest.approx(2.0 / math.sqrt(400 * 100))
    values = init(shape, device="cpu").ravel()
    law = stats.norm(0, math.sqrt(2.0 / 200))
    assert stats.kstest(values, law.cdf).pvalue > 1e-4


@pytest.mark.parametrize("init", [
    I.VarianceScaling(2.0, "fan_geo_avg", "uniform", seed=5, in_axis=1, out_axis=0),
    I.VarianceScaling(1.0, "fan_out", "normal", seed=6, batch_axis=(0,)),
    I.GlorotNormal(seed=7, in_axis=(0, 1), out_axis=-1),
    I.HeUniform(seed=8, batch_axis=()),
    I.LecunNormal(seed=9, input_axes=[0], output_axes=[]),
], ids=lambda i: f"{type(i).__name__}-{sorted(i.get_config())}")
def test_configs_round_trip_the_new_arguments(init):
    config = init.get_config()
    copy = I.deserialize(I.serialize(init))
    assert copy == init and copy.get_config() == config
    assert copy.fan_rule == init.fan_rule
    shape = (4, 6, 8)
    np.testing.assert_array_equal(copy(shape, device="cpu"), init(shape, device="cpu"))


def test_jax_arguments_appear_in_configs_only_when_given():
    assert I.GlorotUniform(seed=1, in_axis=1, out_axis=(0,)).get_config() == {
        "seed": 1, "input_axes": None, "output_axes": None, "in_axis": 1, "out_axis": [0]}
    assert I.VarianceScaling(batch_axis=()).get_config()["batch_axis"] == []
    keras = _keras()
    for name in ["VarianceScaling", "GlorotUniform", "HeNormal"]:
        theirs = getattr(keras.initializers, name)(seed=1).get_config()
        assert set(getattr(I, name)(seed=1).get_config()) == set(theirs)
        assert set(getattr(I, name)(seed=1, out_axis=0).get_config()) == set(theirs) | {
            "out_axis"}


# -- complex laws -----------------------------------------------------------------------
SHAPE_C = (240, 250)  # 60000 complex values


def _complex(init, dtype, shape=SHAPE_C, **kwargs):
    z = init(shape, dtype=dtype, device="cpu", **kwargs)
    assert z.dtype == np.dtype(dtype) and z.shape == shape
    assert np.isfinite(z).all()
    return z.astype(np.complex128).ravel()


@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_normal_has_e_abs2_std2_and_normal_parts(dtype):
    std = 2.0
    z = _complex(I.RandomNormal(0.0, std, seed=1), dtype)
    n = z.size
    power = np.abs(z) ** 2 / std**2  # Exp(1): mean 1, sd 1
    assert abs(power.mean() - 1) < 6 / math.sqrt(n)
    assert stats.kstest(power, stats.expon().cdf).pvalue > 1e-4
    for part in (z.real, z.imag):
        assert stats.kstest(part, stats.norm(0, std / math.sqrt(2)).cdf).pvalue > 1e-4
    assert abs(np.corrcoef(z.real, z.imag)[0, 1]) < 6 / math.sqrt(n)


def test_complex_normal_is_the_real_pairs_of_the_same_seed():
    std = 0.7
    z = I.RandomNormal(0.0, std, seed=11)((30, 40), dtype="complex64", device="cpu")
    pairs = gi.random.normal((30, 40, 2), 0.0, std / math.sqrt(2), seed=11, device="cpu")
    assert (bits(z.view(np.float32).reshape(30, 40, 2)) == bits(pairs)).all()


def test_complex_normal_mean_shifts_the_real_part():
    z = _complex(I.RandomNormal(0.5, 1.0, seed=2), "complex64")
    se = 6 / math.sqrt(2 * z.size)
    assert abs(z.real.mean() - 0.5) < se and abs(z.imag.mean()) < se


@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_box_uniform_has_uniform_parts(dtype):
    z = _complex(I.RandomUniform(-0.3, 0.9, seed=3), dtype)
    for part in (z.real, z.imag):
        assert part.min() >= -0.3 and part.max() < 0.9
        assert stats.kstest(part, stats.uniform(-0.3, 1.2).cdf).pvalue > 1e-4


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("init", [I.GlorotUniform(seed=4), I.HeUniform(seed=5),
                                  I.VarianceScaling(3.0, "fan_out", "uniform", seed=6)],
                         ids=lambda i: type(i).__name__)
def test_complex_uniform_is_uniform_on_jax_disk(init, dtype):
    variance = init.variance(SHAPE_C)
    radius = math.sqrt(2 * variance)  # JAX: sqrt(2·U)·e^{iθ}·sqrt(variance)
    z = _complex(init, dtype)
    modulus = np.abs(z)
    assert modulus.max() <= radius * (1 + 1e-6)
    # Uniform on the disk: P(|z| <= ρ) = (ρ / radius)², angles uniform.
    assert stats.kstest((modulus / radius) ** 2, stats.uniform().cdf).pvalue > 1e-4
    assert stats.kstest(np.angle(z), stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-4
    power = modulus**2 / variance  # uniform on [0, 2]: mean 1, sd 1/√3
    assert abs(power.mean() - 1) < 6 / math.sqrt(3 * z.size)


def _truncated_power_cdf(upper):
    """CDF of |z|² for a complex normal with E|z|² = 1 truncated to |z| < upper."""
    mass = -math.expm1(-upper * upper)
    return lambda s: np.clip(-np.expm1(-np.asarray(s)) / mass, 0, 1)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("init", [I.GlorotNormal(seed=7), I.HeNormal(seed=8),
                                  I.VarianceScaling(0.5, "fan_avg", "truncated_normal", seed=9)],
                         ids=lambda i: type(i).__name__)
def test_complex_truncated_normal_uses_jax_constant_and_bound(init, dtype):
    variance = init.variance(SHAPE_C)
    sigma = math.sqrt(variance) / 0.95311164380491208  # JAX's complex constant
    z = _complex(init, dtype)
    modulus = np.abs(z)
    assert modulus.max() <= 2 * sigma * (1 + 1e-6)
    assert modulus.max() > 1.99 * sigma
    assert stats.kstest(modulus**2 / sigma**2, _truncated_power_cdf(2.0)).pvalue > 1e-4
    assert stats.kstest(np.angle(z), stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-4
    expected = 1 - 4 * math.exp(-4) / -math.expm1(-4)  # E|z|²/σ² after truncation: 0.92537
    assert abs((modulus**2).mean() / sigma**2 - expected) < 0.01


@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_truncated_normal_initializer_truncates_the_modulus(dtype):
    z = _complex(I.TruncatedNormal(1.0, 0.5, seed=10), dtype)
    distance = np.abs(z - 1.0)
    assert distance.max() <= 2 * 0.5 * (1 + 1e-6)
    assert stats.kstest(distance**2 / 0.25, _truncated_power_cdf(2.0)).pvalue > 1e-4


def test_complex_untruncated_normal_has_variance_scale_over_n():
    init = I.VarianceScaling(2.0, "fan_in", "untruncated_normal", seed=12)
    z = _complex(init, "complex128")
    power = np.abs(z) ** 2 / init.variance(SHAPE_C)
    assert abs(power.mean() - 1) < 6 / math.sqrt(z.size)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("init", [I.RandomNormal(0.3, 1.0, seed=1), I.RandomUniform(seed=2),
                                  I.TruncatedNormal(seed=3), I.GlorotUniform(seed=4),
                                  I.HeNormal(seed=5),
                                  I.VarianceScaling(1.0, "fan_in", "untruncated_normal", seed=6)],
                         ids=lambda i: type(i).__name__)
def test_complex_blocks_equal_that_block_of_the_whole(init, dtype):
    full, block, start = (6, 10, 12), (3, 4, 5), (2, 5, 7)
    whole = init(full, dtype=dtype, device="cpu")
    np.testing.assert_array_equal(init(full, dtype=dtype, device="cpu"), whole)
    part = init(block, dtype=dtype, device="cpu", full_shape=full, start=start)
    index = tuple(slice(s, s + n) for s, n in zip(start, block, strict=True))
    assert (bits(part.view(part.real.dtype)) == bits(whole[index].copy().view(part.real.dtype))
            ).all()
    other = init(full, dtype=dtype, device="cpu", stream=1)
    assert not np.array_equal(other, whole)


def test_complex_dtype_spellings():
    torch = pytest.importorskip("torch")
    init = I.HeNormal(seed=1)
    expected = init((4, 5), dtype="complex64", device="cpu")
    for spelling in (np.complex64, np.dtype("complex64"), torch.complex64):
        np.testing.assert_array_equal(init((4, 5), dtype=spelling, device="cpu"), expected)
    assert I.RandomNormal(seed=1)((0, 3), dtype="complex128", device="cpu").shape == (0, 3)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("shape", [(40, 12), (12, 40), (16, 16), (3, 4, 10)])
def test_complex_orthogonal_is_unitary(shape, dtype):
    gain = 1.5
    q = I.Orthogonal(gain, seed=2)(shape, dtype=dtype, device="cpu")
    assert q.shape == shape and q.dtype == np.dtype(dtype)
    m = q.astype(np.complex128).reshape(-1, shape[-1]) / gain
    small = m.conj().T @ m if m.shape[0] >= m.shape[1] else m @ m.conj().T
    tol = 1e-5 if dtype == "complex64" else 1e-12
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=tol)
    assert np.abs(m.imag).max() > 0.1  # really complex


def test_complex_orthogonal_law_is_haar():
    # Column 1 of a Haar unitary 2×2 is uniform on the complex unit sphere: |q00|² is
    # U(0, 1) and the phase of q00 is uniform.
    q00 = np.array([I.Orthogonal(seed=s)((2, 2), dtype="complex128", device="cpu")[0, 0]
                    for s in range(400)])
    assert stats.kstest(np.abs(q00) ** 2, stats.uniform().cdf).pvalue > 1e-3
    assert stats.kstest(np.angle(q00), stats.uniform(-math.pi, 2 * math.pi).cdf).pvalue > 1e-3


def test_complex_delta_orthogonal_centre_is_unitary():
    w = I.DeltaOrthogonal(scale=2.0, seed=0)((3, 4, 6), dtype="complex64", device="cpu")
    centre = w[1].astype(np.complex128) / 2
    np.testing.assert_allclose(centre @ centre.conj().T, np.eye(4), atol=1e-5)
    w[1] = 0
    assert not w.any()


def test_complex_is_refused_where_no_peer_defines_it():
    with pytest.raises(ValueError, match="complex64"):
        I.Sparse(seed=0)((4, 4), dtype="complex64", device="cpu")


# -- seeds: keras.random.SeedGenerator ---------------------------------------------------------
def test_a_seed_generator_seeds_like_its_integer():
    keras = _keras()
    generator = keras.random.SeedGenerator(11)
    init = I.RandomNormal(0.0, 1.0, seed=generator)
    assert init.seed == 11 and init.get_config()["seed"] == 11
    np.testing.assert_array_equal(init((5, 6), device="cpu"),
                                  I.RandomNormal(0.0, 1.0, seed=11)((5, 6), device="cpu"))
    generator.next()  # the counter is not read
    assert I.HeNormal(seed=generator).seed == 11


def test_a_seed_generator_advances_on_every_call_as_in_keras():
    keras = _keras()
    generator = keras.random.SeedGenerator(11)
    init = I.RandomNormal(0.0, 1.0, seed=generator)
    first, second = init((5, 6), device="cpu"), init((5, 6), device="cpu")
    assert not np.array_equal(first, second)
    # Draw k is Keras' pair (11, k): gpuinit's seed 11 + k * 2^32.
    np.testing.assert_array_equal(second, I.RandomNormal(0.0, 1.0, seed=11 + (1 << 32))(
        (5, 6), device="cpu"))
    counter = keras.ops.convert_to_numpy(generator.state.value)[1]
    assert int(counter) == 2
    # The int-seed rule is unchanged: the same values on every call.
    fixed = I.RandomNormal(0.0, 1.0, seed=11)
    np.testing.assert_array_equal(fixed((5, 6), device="cpu"), fixed((5, 6), device="cpu"))


def test_an_unseeded_generator_gives_the_seed_keras_drew():
    keras = _keras()
    generator = keras.random.SeedGenerator()
    state = keras.ops.convert_to_numpy(generator.state.value)
    assert I.GlorotUniform(seed=generator).seed == int(state[0]) & 0xFFFFFFFF


def test_serialized_seed_generators():
    keras = _keras()
    from keras.src.saving import serialization_lib

    serialized = serialization_lib.serialize_keras_object(keras.random.SeedGenerator(21))
    assert I.HeUniform(seed=serialized).seed == 21
    assert I.HeUniform(seed={"class_name": "SeedGenerator", "config": {"seed": None}}).seed is None
    with pytest.raises(ValueError, match="not a SeedGenerator"):
        I.HeUniform(seed={"class_name": "Dense", "config": {"seed": 3}})
    with pytest.raises(TypeError):
        I.HeUniform(seed=object())


# -- arrays: get() and Constant ---------------------------------------------------------------
def test_get_of_an_array_returns_it_for_its_shape_only():
    value = np.arange(6.0).reshape(2, 3)
    init = I.get(value)
    assert isinstance(init, I.FixedValue)
    out = init((2, 3), device="cpu")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, value)
    value[0, 0] = 99.0  # a private copy
    assert init((2, 3), device="cpu")[0, 0] == 0.0
    np.testing.assert_array_equal(init((2, 3), dtype="int64", device="cpu"),
                                  np.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match=r"Expected `shape` to be \(2, 3\) for direct tensor"):
        init((3, 2), device="cpu")
    part = init((1, 2), device="cpu", full_shape=(2, 3), start=(1, 1))
    np.testing.assert_array_equal(part, [[4.0, 5.0]])
    assert I.deserialize(I.serialize(init)) == init
    assert I.get(np.float32(2.5))((), device="cpu") == 2.5


def test_get_of_a_torch_tensor_and_keras_agrees():
    torch = pytest.importorskip("torch")
    tensor = torch.arange(4.0, requires_grad=True).reshape(2, 2)
    np.testing.assert_array_equal(I.get(tensor)((2, 2), device="cpu"), [[0, 1], [2, 3]])
    keras = _keras()
    with pytest.raises(ValueError, match="Expected `shape`"):
        keras.initializers.get(np.zeros((2, 2)))((3, 3))


def test_constant_broadcasts_an_array_as_keras_does():
    keras = _keras()
    value = np.array([1.0, -2.0, 3.0])
    ours = I.Constant(value)((4, 3), device="cpu")
    theirs = keras.ops.convert_to_numpy(keras.initializers.Constant(value)((4, 3)))
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(I.Constant([[1], [2]])((2, 3), dtype="int32", device="cpu"),
                                  [[1, 1, 1], [2, 2, 2]])
    whole = I.Constant(value)((5, 3), device="cpu")
    part = I.Constant(value)((2, 2), device="cpu", full_shape=(5, 3), start=(3, 1))
    np.testing.assert_array_equal(part, whole[3:, 1:])
    with pytest.raises(ValueError, match="does not broadcast"):
        I.Constant(value)((3, 4), device="cpu")
    with pytest.raises(ValueError, match="does not fit int8"):
        I.Constant([1.0, 300.0])((2,), dtype="int8", device="cpu")
    with pytest.raises(ValueError, match="does not fit int32"):
        I.Constant([1.5])((2,), dtype="int32", device="cpu")
    big = I.Constant([1e300, -1e300])
    assert np.isfinite(big((2,), dtype="float64", device="cpu")).all()
    with pytest.raises(ValueError, match="does not fit float32"):
        big((2,), device="cpu")
    with pytest.raises(ValueError, match="NaN"):
        I.Constant([1.0, float("nan")])
    with pytest.raises(TypeError):
        I.Constant(["a", "b"])


def test_constant_arrays_serialize_in_keras_form():
    keras = _keras()
    value = np.array([[1.0, 2.0]], dtype=np.float32)
    ours = I.Constant(value)
    theirs = keras.initializers.Constant(value)
    assert ours.get_config() == keras.initializers.serialize(theirs)["config"]
    assert I.deserialize(I.serialize(ours)) == ours
    from_keras = I.deserialize(keras.initializers.serialize(theirs))
    np.testing.assert_array_equal(from_keras((3, 2), device="cpu"),
                                  keras.ops.convert_to_numpy(theirs((3, 2))))
    back = keras.initializers.Constant.from_config(ours.get_config())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(back((3, 2))),
                                  ours((3, 2), device="cpu"))


# -- STFT ---------------------------------------------------------------------------------
STFT_CASES = [{}, {"side": "imag"}, {"window": "hamming", "scaling": "spectrum", "periodic": True},
              {"window": None, "scaling": None}, {"window": list(np.linspace(0.1, 1, 16))}]


@pytest.mark.parametrize("options", STFT_CASES, ids=str)
@pytest.mark.parametrize("shape", [(16, 1, 9), (16, 1, 33)])
def test_stft_matches_keras(options, shape):
    keras = _keras()
    theirs = keras.initializers.STFT(**options)
    ours = I.STFT(**options)
    expected = keras.ops.convert_to_numpy(theirs(shape, dtype="float64"))
    np.testing.assert_allclose(ours(shape, dtype="float64", device="cpu"), expected,
                               rtol=0, atol=1e-6)
    # float32: Keras rounds its angles in float32; ours are the rounded exact values.
    got32 = ours(shape, device="cpu")
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected, rtol=0, atol=2 ** -24)
    np.testing.assert_allclose(got32, keras.ops.convert_to_numpy(theirs(shape)), atol=1e-5)
    assert ours.get_config() == theirs.get_config()


def test_stft_blocks_channels_registry_and_errors():
    init = I.STFT("imag", "hann", "density", False)
    whole = init((12, 3, 7), device="cpu")
    np.testing.assert_array_equal(whole[:, 0], whole[:, 2])  # every channel
    part = init((5, 2, 3), device="cpu", full_shape=(12, 3, 7), start=(4, 1, 2))
    np.testing.assert_array_equal(part, whole[4:9, 1:3, 2:5])
    for name in ("stft", "STFT", "STFTInitializer"):
        assert isinstance(I.get(name), I.STFT)
    assert I.deserialize(I.serialize(init)) == init
    with pytest.raises(ValueError, match="side should be 'real' or 'imag', not both"):
        I.STFT(side="both")
    with pytest.raises(ValueError, match="Scaling is invalid"):
        I.STFT(scaling="l2")
    with pytest.raises(ValueError, match=r"shape of `window` must be equal to \[frame_length\]"):
        I.STFT(window=[1.0, 2.0])((4, 1, 3), device="cpu")
    with pytest.raises(ValueError, match="3-D"):
        init((4, 3), device="cpu")
    with pytest.raises(ValueError, match="at least 2 fft bins"):
        init((4, 1, 1), device="cpu")


# -- clone() and error wording -------------------------------------------------------------
@pytest.mark.parametrize("init", [
    I.HeNormal(seed=3, in_axis=1, out_axis=0), I.VarianceScaling(2.0, "fan_geo_avg", seed=4),
    I.LecunUniform(seed=5, input_axes=[0], output_axes=[]), I.Constant([1.0, 2.0, 3.0, 4.0]),
    I.get(np.ones((4, 4))), I.STFT(window=None), I.STFT(window=[0.5] * 4, side="imag")],
    ids=lambda i: type(i).__name__)
def test_clone_is_an_equal_new_initializer(init):
    copy = init.clone()
    assert copy is not init and type(copy) is type(init) and copy == init
    shape = (4, 1, 4) if isinstance(init, I.STFT) else (4, 4)
    np.testing.assert_array_equal(copy(shape, device="cpu"), init(shape, device="cpu"))


def test_clone_of_a_generator_seeded_initializer_keeps_the_seed():
    keras = _keras()
    init = I.GlorotNormal(seed=keras.random.SeedGenerator(7), batch_axis=())
    copy = init.clone()
    assert copy.seed == 7 and copy == init
    np.testing.assert_array_equal(copy((5, 5), device="cpu"), init((5, 5), device="cpu"))


def test_errors_use_keras_wording():
    keras = _keras()
    cases = [({"scale": 0.0}, None), ({"scale": -1.5}, None),
             ({"mode": "fan_sum"}, "Invalid `mode` argument: fan_sum. Please use one of"),
             ({"distribution": "cauchy"}, "Invalid `distribution` argument: cauchy.")]
    for kwargs, prefix in cases:
        with pytest.raises(ValueError) as ours:
            I.VarianceScaling(**kwargs)
        with pytest.raises(ValueError) as theirs:
            keras.initializers.VarianceScaling(**kwargs)
        if prefix is None:
            assert str(ours.value) == str(theirs.value)
        else:
            assert str(ours.value).startswith(prefix) and str(theirs.value).startswith(prefix)
    with pytest.raises(ValueError, match="fan_geo_avg"):
        I.VarianceScaling(mode="fan_total")


def test_torch_schemes_take_fan_geo_avg_and_refuse_array_constants():
    torch = pytest.importorskip("torch")
    import gpuinit.torch as gt

    model = torch.nn.Sequential(torch.nn.Linear(16, 64))
    scheme = {"*.weight": gi.initializers.VarianceScaling(2.0, mode="fan_geo_avg",
                                                          distribution="uniform")}
    gt.init_module(model, seed=0, scheme=scheme)
    limit = (3 * 2.0 / (16 * 64) ** 0.5) ** 0.5
    w = model[0].weight.detach()
    assert w.abs().max() <= limit and w.abs().max() > 0.9 * limit
    before = model[0].bias.detach().clone()
    with pytest.raises(ValueError, match="array value"):
        gt.init_module(model, seed=0, scheme={"*.bias": gi.initializers.Constant(np.ones(64))})
    assert torch.equal(model[0].bias.detach(), before)


def test_plot_refuses_an_array_constant_by_name():
    from gpuinit.plot import law_of

    with pytest.raises(ValueError, match="array value"):
        law_of(gi.initializers.Constant(np.arange(4.0)), (4,))


# -- JAX's truncated_normal bounds and orthogonal column_axis ----------------------------------
def test_truncated_normal_takes_jax_bounds_in_units_of_stddev():
    init = I.TruncatedNormal(0.0, 0.5, seed=3, lower=-1.0, upper=3.0)
    w = init((64, 64), device="cpu")
    expected = gi.random.truncated_normal((64, 64), 0.0, 0.5, -1.0, 3.0, seed=3, device="cpu")
    np.testing.assert_array_equal(w, expected)
    assert w.min() >= -0.5 and w.max() <= 1.5
    config = init.get_config()
    assert config["lower"] == -1.0 and config["upper"] == 3.0
    assert I.TruncatedNormal.from_config(config) == init
    assert "lower" not in I.TruncatedNormal().get_config()  # Keras' own config
    half = I.TruncatedNormal(0.0, 1.0, seed=0, lower=0.0, upper=float("inf"))((1000,),
                                                                                device="cpu")
    assert half.min() >= 0.0
    with pytest.raises(ValueError, match="lower"):
        I.TruncatedNormal(lower=1.0, upper=1.0)
    with pytest.raises(ValueError, match="complex"):
        I.TruncatedNormal(lower=-1.0, upper=1.0)((3, 3), dtype="complex64", device="cpu")


@pytest.mark.parametrize("shape, axis", [((5, 2, 3), 0), ((4, 6, 3), 1), ((3, 8), 0),
                                         ((3, 8), -2)])
def test_orthogonal_column_axis_holds_the_orthonormal_columns(shape, axis):
    q = I.Orthogonal(seed=1, column_axis=axis)(shape, device="cpu")
    assert q.shape == shape and q.flags.c_contiguous
    moved = np.moveaxis(q, axis, -1)
    matrix = moved.reshape(-1, shape[axis]).astype(np.float64)
    rows, cols = matrix.shape
    gram = matrix.T @ matrix if rows >= cols else matrix @ matrix.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)
    # The same values as the default layout of the moved shape.
    np.testing.assert_array_equal(moved, I.Orthogonal(seed=1)(moved.shape, device="cpu"))
    assert I.Orthogonal.from_config(I.Orthogonal(column_axis=axis).get_config()).column_axis \
        == axis
    with pytest.raises(ValueError, match="column_axis"):
        I.Orthogonal(column_axis=3)(shape, device="cpu")
