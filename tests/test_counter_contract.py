"""The counter contract: slices, offsets, seeds and streams."""

import numpy as np
import pytest

import gpuinit as gi

from .helpers import DISTRIBUTIONS, DTYPES, bits

WHOLE = (6, 10, 9)
# Each test runs on both CPU loops: the one-core loop and the parallel loops.
pytestmark = pytest.mark.usefixtures("cpu_loop")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_block_equals_slice_of_whole(dist, dtype):
    sample = DISTRIBUTIONS[dist]
    whole = sample(WHOLE, seed=5, stream=3, dtype=dtype, device="cpu")
    for start, shape in [((0, 0, 0), WHOLE), ((1, 2, 3), (4, 5, 6)), ((5, 0, 0), (1, 10, 9)),
                         ((2, 7, 1), (3, 1, 1)), ((0, 3, 0), (6, 4, 9))]:
        block = sample(shape, seed=5, stream=3, dtype=dtype, device="cpu",
                       full_shape=WHOLE, start=start)
        index = tuple(slice(s, s + n) for s, n in zip(start, shape, strict=True))
        np.testing.assert_array_equal(bits(block), bits(whole[index]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_blocks_with_long_rows_equal_slices_of_whole(dist, dtype):
    # Rows of hundreds of Philox blocks: the CPU kernel's batches of 512 blocks start
    # mid-row, end mid-row and span row ends, with rows unaligned to 4-element blocks.
    sample = DISTRIBUTIONS[dist]
    whole_shape = (9, 3001)
    whole = sample(whole_shape, seed=2, stream=7, dtype=dtype, device="cpu")
    for start, shape in [((1, 5), (5, 2990)), ((2, 1), (6, 1201)), ((0, 0), (9, 3001)),
                         ((3, 2), (6, 611))]:
        block = sample(shape, seed=2, stream=7, dtype=dtype, device="cpu",
                       full_shape=whole_shape, start=start)
        index = tuple(slice(s, s + n) for s, n in zip(start, shape, strict=True))
        np.testing.assert_array_equal(bits(block), bits(whole[index]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_offset_equals_flat_slice(dist, dtype):
    sample = DISTRIBUTIONS[dist]
    whole = sample(101, seed=9, dtype=dtype, device="cpu")
    for offset, count in [(0, 101), (1, 50), (3, 7), (97, 4), (50, 0)]:
        part = sample(count, seed=9, dtype=dtype, device="cpu", offset=offset)
        np.testing.assert_array_equal(bits(part), bits(whole[offset:offset + count]))


@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_same_seed_same_bits_other_seed_or_stream_differs(dist):
    sample = DISTRIBUTIONS[dist]
    a = sample(1000, seed=42, device="cpu")
    np.testing.assert_array_equal(bits(a), bits(sample(1000, seed=42, device="cpu")))
    assert (a != sample(1000, seed=43, device="cpu")).mean() > 0.99
    assert (a != sample(1000, seed=42, stream=1, device="cpu")).mean() > 0.99
    # Seeds differing only in their high word give different keys too.
    assert (a != sample(1000, seed=42 + (1 << 32), device="cpu")).mean() > 0.99


def test_shape_does_not_change_values():
    flat = gi.random.normal(60, seed=1, device="cpu")
    np.testing.assert_array_equal(gi.random.normal((3, 4, 5), seed=1, device="cpu").ravel(), flat)


def test_uniform_float32_matches_the_documented_mapping():
    # Element e uses word e % 4 of block e // 4: u = (word >> 8) * 2**-24.
    words = gi.random.philox4x32([[b, 0, 0, 0] for b in range(3)], [77, 0]).ravel()
    expected = (words >> 8).astype(np.float64) * 2.0 ** -24
    got = gi.random.uniform(12, seed=77, device="cpu")
    np.testing.assert_array_equal(got, expected.astype(np.float32))


def test_stream_and_seed_words_go_where_the_contract_says():
    # counter = (b, attempt << 16, s mod 2**32, s >> 32), key = (seed mod 2**32, seed >> 32)
    seed, stream = (5 << 32) | 6, (7 << 32) | 8
    words = gi.random.philox4x32([0, 0, 8, 7], [6, 5])
    got = gi.random.uniform(4, seed=seed, stream=stream, device="cpu")
    np.testing.assert_array_equal(got, ((words >> 8) * 2.0 ** -24).astype(np.float32))


def test_unseeded_calls_follow_manual_seed():
    gi.manual_seed(123)
    first = [gi.random.uniform(8, device="cpu") for _ in range(2)]
    gi.manual_seed(123)
    again = [gi.random.uniform(8, device="cpu") for _ in range(2)]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])

