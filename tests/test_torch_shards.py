"""A DTensor shard's target, in one process: every fill of the stand-in reaches the
block's target itself, so any sampler is made as the block of the whole tensor and
gpuinit.init is never changed while shards are filled."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import gpuinit as gi  # noqa: E402
import gpuinit.init  # noqa: E402
import gpuinit.inplace  # noqa: E402
import gpuinit.random  # noqa: E402
from gpuinit.torch.dtensors import LocalShard  # noqa: E402
from gpuinit.torch.shards import _BlockTarget, _fill_whole, _NotShardable, _ShardWrites  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _block(full=(10, 6), start=(3, 2), local=(4, 3), dtype=torch.float32):
    """Return (local tensor, the _ShardWrites of its block, the stand-in carrying it)."""
    tensor = torch.full(local, float("nan"), dtype=dtype)
    stand_in = torch.empty(full, dtype=dtype, device="meta")
    writes = _ShardWrites(_BlockTarget(stand_in, LocalShard("w", tensor, full, start)))
    return tensor, writes, writes.carry(stand_in)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_gpuinit_init_on_the_stand_in_fills_the_block_of_the_whole(dtype):
    for fill in (lambda t: gi.init.trunc_normal_(t, 0.5, 2.0, -1.0, 3.0, seed=3, stream=7),
                 lambda t: gi.init.uniform_(t.data, -1.0, 1.0, seed=4, stream=7),  # a view
                 lambda t: gi.init.kaiming_normal_(t.detach(), seed=5, stream=7)):
        whole = torch.empty(10, 6, dtype=dtype)
        fill(whole)
        local, writes, stand_in = _block(dtype=dtype)
        with writes:
            # Nothing is patched: gpuinit.init reaches the samplers through its laws.
            assert gi.init.wrap is gi.inplace.wrap and gi.init.laws is gi.laws
            assert gi.laws.elementwise.random is gi.random
            fill(stand_in)
        assert torch.equal(local, whole[3:7, 2:5])


def test_a_complex_stand_in_fills_the_block_of_the_whole_through_its_real_view():
    for fill in (lambda t: gi.init.normal_(t, 0.5, 2.0, seed=3, stream=7),
                 lambda t: gi.init.uniform_(t.data, -1.0, 1.0, seed=4, stream=7),
                 lambda t: gi.init.kaiming_normal_(t.detach(), seed=5, stream=7),
                 lambda t: gi.init.sparse_(t, 0.3, seed=6, stream=7)):
        whole = torch.empty(10, 6, dtype=torch.complex64)
        fill(whole)
        local, writes, stand_in = _block(dtype=torch.complex64)
        with writes:
            fill(stand_in)
        assert torch.equal(local, whole[3:7, 2:5])


def test_any_sampler_is_made_as_the_block_through_the_target():
    def shifted(shape, shift, **options):  # a sampler gpuinit.init does not know
        values = gi.random.normal(shape, shift, 0.5, **options)
        return values

    whole = torch.empty(10, 6)
    gi.inplace.wrap(whole).sample(shifted, 2.0, seed=9, stream=1, device=gi.device("cpu"),
                                  dtype="float32")
    local, writes, _ = _block()
    writes.target.sample(shifted, 2.0, seed=9, stream=1, device=gi.device("cpu"),
                         dtype="float32")
    assert torch.equal(local, whole[3:7, 2:5])


def test_gpuinit_init_on_part_of_the_stand_in_is_made_whole_instead():
    def fill(t, seed, stream):
        t[0].zero_()
        gi.init.normal_(t[1:], seed=seed, stream=stream)

    _, writes, stand_in = _block()
    with pytest.raises(_NotShardable), writes:
        fill(stand_in, 5, 0)
    local, _, _ = _block()
    _fill_whole(LocalShard("w", local, (10, 6), (3, 2)), fill, 5, 0)
    whole = torch.empty(10, 6)
    fill(whole, 5, 0)
    assert torch.equal(local, whole[3:7, 2:5])


@pytest.mark.parametrize("first", ["gpuinit.schemes", "gpuinit.torch.plan", "gpuinit.torch",
                                   "gpuinit.schemes.verify", "gpuinit.torch.shards"])
def test_the_torch_package_and_the_schemes_import_in_any_order(first):
    script = textwrap.dedent(f"""
        import {first}
        import gpuinit.torch as gt
        from gpuinit.schemes import scheme_names
        print(gt.init_module.__module__, len(scheme_names()) > 5)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["gpuinit.torch.entry", "True"]


def test_no_module_of_the_torch_package_is_over_400_lines():
    for path in (ROOT / "gpuinit" / "torch").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path.name


def test_the_distribution_ships_the_torch_package():
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "gpuinit.torch" in config["tool"]["setuptools"]["packages"]
