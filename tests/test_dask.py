"""gpuinit.dask: chunked arrays equal the single-device tensor bit for bit, for every chunking."""

import math

import numpy as np
import pytest

import gpuinit as gi

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("dask.distributed")
gd = pytest.importorskip("gpuinit.dask")

CHUNKINGS = [(64, 48), ((1, 190, 9), (7, 90, 3)), (200, 1), -1, "auto"]

BLOCK_INITIALIZERS = [
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "truncated_normal",
    "random_uniform",
    {"class_name": "VarianceScaling",
     "config": {"scale": 3.0, "mode": "fan_avg", "distribution": "uniform"}},
    {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 0.5}},
    "identity",
    "zeros",
    {"class_name": "Constant", "config": {"value": 0.25}},
]


@pytest.mark.parametrize("identifier", BLOCK_INITIALIZERS, ids=str)
@pytest.mark.parametrize("chunks", CHUNKINGS, ids=str)
def test_every_chunking_gives_the_bits_of_the_single_device_tensor(identifier, chunks):
    shape = (200, 100)
    expected = gi.initializers.get(identifier)(shape, seed=11)
    x = gd.array(identifier, shape, chunks=chunks, seed=11)
    assert isinstance(x, da.Array)
    result = x.compute()
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_other_dtypes_and_conv_kernels_are_chunked_exactly(dtype):
    shape = (3, 3, 16, 24)  # Keras conv kernel: fans from the whole (3, 3, 16, 24)
    expected = gi.initializers.HeUniform()(shape, dtype=dtype, seed=4, stream=9)
    x = gd.array("he_uniform", shape, chunks=(2, 3, 5, 7), dtype=dtype, seed=4, stream=9)
    assert x.numblocks == (2, 1, 4, 4)
    result = x.compute()
    assert result.dtype == expected.dtype
    np.testing.assert_array_equal(result.view(np.uint8), expected.view(np.uint8))


def test_variance_scaling_uses_the_fans_of_the_whole_shape():
    # One 64 × 64 chunk of a (4096, 64) kernel: fan_in is 4096, not 64.
    x = gd.array("he_normal", (4096, 64), chunks=(64, 64), seed=2)
    first = x.blocks[0, 0].compute().astype(np.float64)
    assert first.shape == (64, 64)
    assert abs(first.std() / math.sqrt(2.0 / 4096) - 1.0) < 0.05


def test_dirac_blocks_of_a_pytorch_conv_weight():
    shape = (8, 4, 3, 3)
    expected = gi.initializers.get("dirac")(shape)
    np.testing.assert_array_equal(gd.array("dirac", shape, chunks=(3, 3, 2, 2)).compute(),
                                  expected)


def test_seed_is_fixed_when_the_graph_is_built():
    init = gi.initializers.GlorotNormal()  # unseeded: a fresh seed per array
    x = gd.array(init, (128, 32), chunks=32)
    np.testing.assert_array_equal(x.compute(), x.compute())
    y = gd.array(init, (128, 32), chunks=32)
    assert not np.array_equal(x.compute(), y.compute())
    assert x.name != y.name


def test_manual_seed_makes_unseeded_arrays_reproducible():
    gi.manual_seed(123)
    first = gd.array("glorot_normal", (64, 16), chunks=16).compute()
    gi.manual_seed(123)
    second = gd.array("glorot_normal", (64, 16), chunks=16).compute()
    np.testing.assert_array_equal(first, second)


def test_the_initializers_own_seed_wins_over_seed():
    init = gi.initializers.RandomUniform(seed=5)
    np.testing.assert_array_equal(gd.array(init, (40, 40), chunks=9, seed=99).compute(),
                                  init((40, 40)))


@pytest.mark.parametrize("shape,chunks", [
    ((2000, 50), (300, 50)),      # tall: TSQR over row blocks
    ((50, 2000), (50, 300)),      # wide: the transpose of a tall Q
    ((40, 25, 60), (8, 25, 60)),  # read as a (1000, 60) matrix
])
def test_orthogonal_goes_through_tsqr_and_matches_the_single_device_matrix(shape, chunks):
    init = gi.initializers.Orthogonal(gain=1.5, seed=8)
    x = gd.array(init, shape, chunks=chunks)
    assert math.prod(x.numblocks) > 1
    result = x.compute()
    assert result.shape == shape and result.dtype == np.float32
    np.testing.assert_allclose(result, init(shape), rtol=0, atol=2e-6)
    matrix = result.reshape(-1, shape[-1]).astype(np.float64) / 1.5
    small = min(matrix.shape)
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def test_orthogonal_float64_tsqr():
    init = gi.initializers.Orthogonal(seed=1)
    x = gd.array(init, (900, 30), chunks=(100, 30), dtype="float64")
    np.testing.assert_allclose(x.compute(), init((900, 30), dtype="float64"), atol=1e-12)


def test_initializers_that_need_the_whole_tensor_refuse_several_chunks():
    sparse = {"class_name": "Sparse", "config": {"sparsity": 0.3}}
    with pytest.raises(ValueError, match="chunks=50.*Sparse needs the whole tensor"):
        gd.array(sparse, (100, 100), chunks=50)
    np.testing.assert_array_equal(
        gd.array(sparse, (100, 100), chunks=-1, seed=2).compute(),
        gi.initializers.get(sparse)((100, 100), seed=2),
    )
    delta = gi.initializers.DeltaOrthogonal(seed=3)
    np.testing.assert_array_equal(gd.array(delta, (3, 3, 4, 8), chunks=-1).compute(),
                                  delta((3, 3, 4, 8)))


def test_user_initializers_are_made_as_one_chunk():
    class Halves(gi.initializers.Initializer):  # NeuPy style: sample(shape)
        def sample(self, shape):
            return np.full(shape, 0.5)

    def keras_style(shape, dtype=None):
        return np.arange(math.prod(shape), dtype=dtype).reshape(shape)

    np.testing.assert_array_equal(gd.array(Halves(), (3, 4), chunks=-1).compute(),
                                  np.full((3, 4), 0.5, np.float32))
    np.testing.assert_array_equal(gd.array(keras_style, (3, 4), chunks=-1).compute(),
                                  keras_style((3, 4), "float32"))
    with pytest.raises(ValueError, match="Halves needs the whole tensor"):
        gd.array(Halves(), (30, 4), chunks=10)


def test_bad_arguments_raise_typed_errors_naming_them():
    with pytest.raises(TypeError, match="init=None"):
        gd.array(None, (3, 3))
    with pytest.raises(ValueError, match="shape"):
        gd.array("he_normal", (-1, 3))
    with pytest.raises(ValueError, match="stream"):
        gd.array("he_normal", (3, 3), stream=-1)
    with pytest.raises(ValueError, match="seed"):
        gd.array("he_normal", (3, 3), seed=-5)
    with pytest.raises(ValueError, match="dtype"):  # checked at graph time, not on a worker
        gd.array("he_normal", (3, 3), dtype="int8")
    with pytest.raises(TypeError, match="dtype='no_such_dtype'"):
        gd.array("zeros", (3, 3), dtype="no_such_dtype")
    with pytest.raises(ValueError, match="seed"):  # checked even when the initializer's wins
        gd.array(gi.initializers.HeNormal(seed=1), (3, 3), seed=-5)
    for chunks in [(0, 3), (-2, 3), ((1, 1), (3,)), 1.5, "garbage"]:
        with pytest.raises(ValueError, match=r"chunks=.* do not fit shape=\(4, 3\)"):
            gd.array("he_normal", (4, 3), chunks=chunks)
    with pytest.raises(ValueError, match="2-D"):
        gd.array("identity", (3, 3, 3))
    with pytest.raises(ValueError, match="Unknown|unknown"):
        gd.array("not_an_initializer", (3, 3))



@pytest.mark.parametrize("shape,chunks,column_axis", [
    ((12, 12), (5, 5), 0),
    ((6, 8, 10), (2, 3, 4), 1),    # a (60, 8) matrix, its columns on axis 1
    ((40, 5, 3), (7, 5, 3), -3),   # a (15, 40) wide matrix, its columns on axis 0
])
def test_split_orthogonal_follows_column_axis_as_the_whole_call_does(shape, chunks, column_axis):
    init = gi.initializers.Orthogonal(gain=1.5, seed=2, column_axis=column_axis)
    x = gd.array(init, shape, chunks=chunks)
    assert math.prod(x.numblocks) > 1 and x.chunks == da.core.normalize_chunks(chunks, shape)
    np.testing.assert_allclose(x.compute(), init(shape), rtol=0, atol=2e-6)


def test_split_orthogonal_refuses_a_column_axis_out_of_range_when_built():
    init = gi.initializers.Orthogonal(seed=2, column_axis=5)
    with pytest.raises(ValueError, match="column_axis=5"):
        init((30, 6))
    with pytest.raises(ValueError, match="column_axis=5"):
        gd.array(init, (30, 6), chunks=(5, 6))


@pytest.mark.parametrize("init,shape,chunks", [
    (gi.initializers.Orthogonal(seed=4), (3, 0, 4), (1, 1, 2)),
    (gi.initializers.Orthogonal(seed=4), (0, 3, 4), (1, 1, 2)),
    (gi.initializers.Orthogonal(seed=4), (2, 0, 3, 4), (1, 1, 3, 4)),
    (gi.initializers.Orthogonal(seed=4), (3, 4, 0), (1, 2, 1)),
    (gi.initializers.DeltaOrthogonal(seed=4), (0, 3, 4, 8), (1, 1, 2, 2)),
    (gi.initializers.Sparse(seed=4), (0, 8), (1, 2)),
])
def test_an_empty_tensor_may_be_split_whatever_the_initializer(init, shape, chunks):
    x = gd.array(init, shape, chunks=chunks)
    result = x.compute()
    expected = init(shape)
    assert result.shape == expected.shape == shape and result.dtype == expected.dtype


@pytest.mark.parametrize("shape,chunks", [
    ((10, 7), (-3, 7)),
    ((10, 7), -3),
    ((10, 7), ((5, -2, 7), (7,))),
    ((10, 7), ((np.nan,), (7,))),
    ((10, 7), ((5, 4), (7,))),
    ((0, 7), ((0, -1), (7,))),
])
def test_chunks_that_dask_normalizes_to_no_chunking_are_refused(shape, chunks):
    with pytest.raises(ValueError, match=r"chunks=.* do not fit shape="):
        gd.array("glorot_uniform", shape, chunks, seed=1)


@pytest.mark.parametrize("chunks", [True, False, (True, 7), ((5, 5), (np.bool_(True),) * 7)])
def test_bool_chunks_are_refused(chunks):
    with pytest.raises(TypeError, match=r"chunks=.*bool"):
        gd.array("ones", (10, 7), chunks)


@pytest.mark.parametrize("init,shape,dtype,match", [
    ("delta_orthogonal", (3, 3), "float32", "3-D, 4-D or 5-D"),
    ("sparse", (3, 3, 6), "float32", "2-D"),
    ("orthogonal", (3, 6), "int32", "dtype='int32'"),
    (gi.initializers.Orthogonal(gain=1e6), (3, 6), "float16", "gain=1000000.0"),
    (gi.initializers.DeltaOrthogonal(scale=1e6), (3, 3, 2, 4), "float16", "scale="),
    ({"class_name": "Orthogonal", "config": {"column_axis": -3}}, (4, 6), "float32",
     "column_axis=-3"),
])
def test_whole_tensor_initializers_are_checked_when_built(init, shape, dtype, match):
    gi.manual_seed(31)
    with pytest.raises(ValueError, match=match):
        gd.array(init, shape, -1, dtype)
    drawn = gi.seeding.next_seed()
    gi.manual_seed(31)
    assert drawn == gi.seeding.next_seed()  # the refused call drew no seed


def test_whole_tensor_checks_compute_nothing():
    # Each would need terabytes if made: only the checks run when the array is built.
    huge = (10**6, 10**6)
    x = gd.array(gi.initializers.Orthogonal(seed=1), huge, -1)
    assert x.shape == huge and x.dtype == np.float32
    assert gd.array("sparse", huge, -1, seed=1).shape == huge
    assert gd.array("delta_orthogonal", (3, 3, 10**6, 10**6), -1, seed=1).numblocks == (1,) * 4
    with pytest.raises(ValueError, match="gain"):
        gd.array(gi.initializers.Orthogonal(gain=1e6), huge, -1, "float16")


@pytest.mark.parametrize("chunks", ["auto", -1, (2, 3)])
def test_a_dtype_gpuinit_makes_no_arrays_of_is_refused_before_the_chunks(chunks):
    with pytest.raises(TypeError, match="dtype='object'"):
        gd.array("zeros", (4, 3), chunks, dtype=object)

@pytest.mark.skipif(gi.cuda_available(), reason="checks the error raised without CUDA")
def test_cuda_chunks_without_cuda_raise_device_error():
    with pytest.raises(gi.DeviceError):
        gd.array("he_normal", (3, 3), device="cuda")


@pytest.fixture(scope="module")
def thread_cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_local_cluster_workers_make_the_same_bits(thread_cluster):
    shape = (512, 256)
    futures = {
        chunks: thread_cluster.compute(gd.array("lecun_uniform", shape, chunks=chunks, seed=6))
        for chunks in [(64, 64), (100, 256), (512, 17)]
    }
    expected = gi.initializers.get("lecun_uniform")(shape, seed=6)
    for future in futures.values():
        np.testing.assert_array_equal(future.result(), expected)
    orthogonal = gd.array(gi.initializers.Orthogonal(seed=2), (1200, 40), chunks=(200, 40))
    np.testing.assert_allclose(thread_cluster.compute(orthogonal).result(),
                               gi.initializers.Orthogonal(seed=2)((1200, 40)), atol=2e-6)


def test_process_workers_make_the_same_bits():
    # Worker processes unpickle the initializer and run the kernels themselves.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        x = gd.array("glorot_uniform", (300, 200), chunks=(70, 90), seed=12)
        total = client.compute(x.sum(dtype=np.float64)).result()
        result = client.compute(x).result()
    expected = gi.initializers.get("glorot_uniform")((300, 200), seed=12)
    np.testing.assert_array_equal(result, expected)
    assert total == pytest.approx(float(expected.sum(dtype=np.float64)), rel=1e-12, abs=1e-9)


@pytest.mark.cuda
def test_cuda_chunks_are_cupy_and_equal_the_single_gpu_tensor():
    cupy = pytest.importorskip("cupy")
    x = gd.array("he_normal", (1024, 256), chunks=(100, 128), seed=3, device="cuda")
    assert isinstance(x._meta, cupy.ndarray)
    result = x.compute()
    assert isinstance(result, cupy.ndarray)
    expected = gi.initializers.get("he_normal")((1024, 256), seed=3, device="cuda")
    cupy.testing.assert_array_equal(result, expected)
    # he_normal is truncated: CPU and CUDA agree to 2 float32 ulp (erfc in its inverse CDF).
    np.testing.assert_array_max_ulp(cupy.asnumpy(result),
                                    gi.initializers.get("he_normal")((1024, 256), seed=3), 2)


@pytest.mark.slow  # runs the example script with a cluster (seconds)
def test_dask_example_makes_a_kernel_larger_than_a_worker(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "dask_init.py"
    run = subprocess.run([sys.executable, str(example), "--rows", "2048", "--cols", "4096",
                          "--chunk-rows", "64", "--memory-limit", "1GiB"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "equals the single-array initializer's: True" in run.stdout
    import re

    std = float(re.search(r"std (\S+) \(He", run.stdout).group(1))
    assert std == pytest.approx(math.sqrt(2.0 / 2048), rel=0.01)
