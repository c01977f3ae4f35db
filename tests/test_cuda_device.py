"""Real-GPU checks (marked ``cuda``; skipped with the reason on machines without one)."""

import numpy as np
import pytest

import gpuinit as gi

from .helpers import DISTRIBUTIONS, DTYPES, bits, ulp_distance

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_cupy_result_matches_cpu(dist, dtype):
    import cupy

    sample = DISTRIBUTIONS[dist]
    on_gpu = sample((33, 65), seed=3, stream=2, dtype=dtype, device="cuda")
    on_cpu = sample((33, 65), seed=3, stream=2, dtype=dtype, device="cpu")
    assert isinstance(on_gpu, cupy.ndarray)
    if dist in ("uniform", "normal"):
        np.testing.assert_array_equal(bits(on_gpu), bits(on_cpu))
    else:
        assert ulp_distance(on_gpu, on_cpu, "float32").max() <= 2.0


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
@pytest.mark.parametrize("dist", ["uniform", "normal"])
def test_unaligned_out_is_written_lane_by_lane_with_the_same_bits(dist, dtype):
    import cupy

    sample = DISTRIBUTIONS[dist]
    # One element past an aligned allocation: no whole block can take a wide store.
    out = cupy.zeros(4097 + 1, dtype=dtype)[1:]
    assert out.data.ptr % 16 != 0
    sample(4097, seed=4, dtype=dtype, out=out)
    on_cpu = sample(4097, seed=4, dtype=dtype, device="cpu")
    np.testing.assert_array_equal(bits(out), bits(on_cpu))


@pytest.mark.parametrize("dist", list(DISTRIBUTIONS))
def test_gpu_block_equals_slice_of_whole(dist):
    sample = DISTRIBUTIONS[dist]
    whole = sample((40, 50), seed=1, device="cuda")
    block = sample((7, 9), seed=1, device="cuda", full_shape=(40, 50), start=(30, 41))
    np.testing.assert_array_equal(bits(block), bits(whole[30:37, 41:50]))


def test_launch_uses_the_current_stream_and_out_is_filled_in_place():
    import cupy

    out = cupy.full((1000,), cupy.nan, dtype=cupy.float32)
    # The NaNs are written on the null stream, which a non-blocking stream does not wait
    # for: without this the fill could run first and the NaNs land on top of it.
    cupy.cuda.get_current_stream().synchronize()
    with cupy.cuda.Stream(non_blocking=True) as stream:
        result = gi.random.normal(1000, seed=5, out=out)
        stream.synchronize()
    assert result is out
    assert bool(cupy.isfinite(out).all())


def test_more_than_2_to_the_31_elements():
    import cupy

    n = (1 << 31) + 1000
    free, _ = cupy.cuda.runtime.memGetInfo()
    if free < n * 2 * 1.2:
        pytest.skip(f"needs {n * 2} bytes of free device memory, {free} free")
    x = gi.random.uniform(n, seed=9, dtype="float16", device="cuda")
    tail = gi.random.uniform(1000, seed=9, dtype="float16", device="cuda", offset=n - 1000)
    np.testing.assert_array_equal(bits(x[-1000:]), bits(tail))
    del x
    cupy.get_default_memory_pool().free_all_blocks()


def test_out_of_memory_raises_typed_error_and_frees_the_pool():
    import cupy

    pool = cupy.get_default_memory_pool()
    before = pool.used_bytes()
    with pytest.raises(gi.OutOfMemoryError):
        gi.random.uniform((1 << 40,), seed=0, device="cuda")
    assert pool.used_bytes() == before


@pytest.mark.parametrize("shape", [(512, 128), (128, 512), (3, 3, 64, 64)])
def test_orthogonal_on_the_gpu_is_orthogonal_and_matches_the_cpu(shape):
    import cupy

    q = gi.initializers.Orthogonal(gain=1.0, seed=5)(shape, device="cuda")
    assert isinstance(q, cupy.ndarray) and q.shape == shape
    m = cupy.asnumpy(q).astype(np.float64).reshape(-1, shape[-1])
    small = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-5)
    on_cpu = gi.initializers.Orthogonal(gain=1.0, seed=5)(shape, device="cpu")
    np.testing.assert_allclose(cupy.asnumpy(q), on_cpu, atol=1e-4)


@pytest.mark.parametrize("name", ["glorot_uniform", "he_normal", "lecun_normal", "dirac",
                                  "identity", "sparse", "delta_orthogonal"])
def test_initializers_return_cupy_arrays_equal_to_the_cpu(name):
    import cupy

    shape = {"dirac": (3, 3, 8, 8), "delta_orthogonal": (3, 3, 8, 8)}.get(name, (64, 32))
    init = gi.initializers.get(name)
    if hasattr(init, "seed"):
        init.seed = 3
    on_gpu = init(shape, device="cuda")
    assert isinstance(on_gpu, cupy.ndarray)
    np.testing.assert_allclose(cupy.asnumpy(on_gpu), init(shape, device="cpu"), atol=1e-4)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_in_place_on_torch_cuda_tensors(dtype):
    torch = pytest.importorskip("torch")
    t = torch.empty(256, 128, dtype=getattr(torch, dtype), device="cuda")
    pointer = t.data_ptr()
    assert gi.init.kaiming_uniform_(t, seed=1) is t
    assert t.data_ptr() == pointer
    cpu = gi.init.kaiming_uniform_(torch.empty(256, 128, dtype=getattr(torch, dtype)), seed=1)
    torch.testing.assert_close(t.cpu().float(), cpu.float(), rtol=0, atol=0)
    gi.init.orthogonal_(t, seed=2)
    m = t.double()
    torch.testing.assert_close(m.T @ m, torch.eye(128, dtype=torch.float64, device="cuda"),
                               atol=3e-2 if dtype != "float32" else 1e-5, rtol=0)


@pytest.mark.parametrize("fill", ["normal_", "uniform_", "kaiming_normal_", "sparse_"])
def test_complex_torch_cuda_tensors_get_the_cpus_bits_through_their_real_view(fill):
    torch = pytest.importorskip("torch")
    arguments = (0.3,) if fill == "sparse_" else ()
    t = torch.empty(64, 48, dtype=torch.complex64, device="cuda")
    pointer = t.data_ptr()
    assert getattr(gi.init, fill)(t, *arguments, seed=5) is t and t.data_ptr() == pointer
    cpu = getattr(gi.init, fill)(torch.empty(64, 48, dtype=torch.complex64), *arguments,
                                 seed=5)
    if fill == "sparse_":  # the zeroed rows come from an argsort of float64 keys
        assert torch.equal(t.cpu() == 0, cpu == 0)
    np.testing.assert_array_equal(bits(torch.view_as_real(t).cpu().numpy()),
                                  bits(torch.view_as_real(cpu).numpy()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_truncation_holding_every_deviate_gives_the_cpus_bits(dtype):
    # Run by the normal kernel, clamped to the bounds: bit for bit as the normal is.
    on_gpu = gi.random.truncated_normal((33, 65), 0.1, 0.02, -100.0, 100.0, seed=3, stream=2,
                                        dtype=dtype, device="cuda")
    on_cpu = gi.random.truncated_normal((33, 65), 0.1, 0.02, -100.0, 100.0, seed=3, stream=2,
                                        dtype=dtype, device="cpu")
    np.testing.assert_array_equal(bits(on_gpu), bits(on_cpu))
