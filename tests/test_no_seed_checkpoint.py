"""No seed checkpoint: torchtitan's Llama 3, sharded, equals one process bit for bit.

``examples/no_seed_checkpoint.py`` is the worker: run alone it launches worlds of CPU
processes (gloo) with ``torch.distributed.run``; in each, every mesh builds the model on
meta, shards it (FSDP2 ``fully_shard`` over all ranks; with 4 ranks also FSDP x TP 2 x 2
by ``parallelize_module``; with torchtitan installed, torchtitan's own
``parallelize_llama`` too), ``materialize``s it with ``scheme="torchtitan"`` and, with
``--save``, each rank saves every ``full_tensor()`` and buffer it then holds.  Here, in
this process, each is compared bit for bit with a single-process ``materialize`` of the
unsharded model, and the RoPE caches with the ones the codebase computes itself.

The torchtitan test (worlds of 1, 2 and 4 ranks) is marked ``peers`` and ``distributed``
and skips, saying so, without torchtitan; the look-alike test (torchtitan's names on
plain ``nn`` modules, a world of 4 ranks) is marked ``distributed``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

from gpuinit.torch import materialize  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "no_seed_checkpoint.py"
HAVE_TORCHTITAN = importlib.util.find_spec("torchtitan") is not None


def _example():
    spec = importlib.util.spec_from_file_location("no_seed_checkpoint", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ex = _example()


def _run_worlds(out: Path, kind: str, worlds: tuple[int, ...]) -> dict:
    """Run the example's worlds; return {(world, rank): what that rank saved} and its
    printed lines under "stdout"."""
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH"))
                                          if p))
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)  # the example launches its own worlds
    command = [sys.executable, str(EXAMPLE), "--model", kind, "--save", str(out),
               "--worlds", ",".join(map(str, worlds)), "--timeout", "200"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    saved = {(w, r): torch.load(out / f"world{w}-rank{r}.pt", weights_only=False)
             for w in worlds for r in range(w)}
    saved["stdout"] = done.stdout
    return saved


def _reference(kind: str):
    """({name: tensor} of one process's materialize, {name: RoPE cache} as the codebase
    computes it)."""
    single = materialize(ex.build(kind), "cpu", seed=ex.SEED, scheme=ex.SCHEME)
    params = {n: p.detach().clone() for n, p in single.named_parameters()}
    return params, ex.titan_rope_caches(kind)


def _bits(t):
    return t.contiguous().view(torch.uint8)


def _assert_equal_bits(found: dict, want: dict, where):
    assert found.keys() == want.keys(), where
    for name, t in want.items():
        assert found[name].dtype == t.dtype and found[name].shape == t.shape, (where, name)
        assert torch.equal(_bits(found[name]), _bits(t)), (where, name)


def _check(saved: dict, kind: str, worlds: tuple[int, ...]) -> None:
    params, rope = _reference(kind)
    assert len(rope) == ex.LAYERS and all(  # the RoPE caches themselves: unit complex
        c.dtype == torch.complex64 and c.shape == (ex.SEQ, ex.DIM // ex.HEADS // 2)
        and (c.abs() - 1).abs().max() < 1e-5 and c[1:].angle().abs().max() > 0.5
        for c in rope.values())
    for world in worlds:
        labels = [label for label, _ in ex.meshes(kind, world)]
        for rank in range(world):
            held = saved[(world, rank)]
            assert (held["world"], held["rank"], held["kind"]) == (world, rank, kind)
            assert list(held["meshes"]) == labels
            for label, mesh in held["meshes"].items():
                _assert_equal_bits(mesh["params"], params, (world, rank, label))
                _assert_equal_bits(mesh["buffers"], rope, (world, rank, label, "rope"))
                assert mesh["digest"] == ex.digest(params)
    assert saved["stdout"].count("equal to one process: True") == sum(
        len(ex.meshes(kind, w)) for w in worlds)


def _placements(saved, world, label):
    return saved[(world, 0)]["meshes"][label]["placements"]


def _assert_really_sharded(saved, kind):
    """The 4-rank meshes do shard: FSDP2 over dim 0 (the uneven vocabulary included),
    and 2 x 2 with TP's Shard(1) on wo/w2 and FSDP's _StridedShard on the colwise ones."""
    fsdp = _placements(saved, 4, "fsdp=4 (fully_shard)")
    assert fsdp["tok_embeddings.weight"] == "(Shard(dim=0),)"
    assert fsdp["layers.1.feed_forward.w2.weight"] == "(Shard(dim=0),)"
    both = _placements(saved, 4, "fsdp=2 x tp=2 (parallelize_module, fully_shard)")
    assert both["layers.0.attention.wo.weight"] == "(Shard(dim=0), Shard(dim=1))"
    assert both["layers.0.feed_forward.w2.weight"] == "(Shard(dim=0), Shard(dim=1))"
    for name in ("layers.0.attention.qkv_linear.wqkv.weight", "layers.1.feed_forward.w1.weight",
                 "tok_embeddings.weight", "lm_head.weight"):
        assert "_StridedShard" in both[name] and both[name].endswith("Shard(dim=0))"), name
    assert both["norm.weight"] == "(Shard(dim=0),)"  # not TP'd: FSDP on the fsdp submesh
    if kind == "torchtitan":  # torchtitan's own plan: the same placements of the matrices,
        titan = _placements(saved, 4, "dp_shard=2 x tp=2 (torchtitan's parallelize_llama)")
        for name, placed in titan.items():  # its norms replicated over tp, on the 2-D mesh
            want = "(Shard(dim=0), Replicate())" if "norm" in name else both[name]
            assert placed == want, name


@pytest.fixture(scope="module")
def titan_worlds(tmp_path_factory):
    if not HAVE_TORCHTITAN:
        pytest.skip("torchtitan is not installed (.ci/run installs it for the peers stage)")
    return _run_worlds(tmp_path_factory.mktemp("titan"), "torchtitan", (1, 2, 4))


@pytest.fixture(scope="module")
def lookalike_world(tmp_path_factory):
    return _run_worlds(tmp_path_factory.mktemp("lookalike"), "lookalike", (4,))


@pytest.mark.distributed
@pytest.mark.peers
def test_torchtitan_llama3_sharded_worlds_equal_one_process_bit_for_bit(titan_worlds):
    _check(titan_worlds, "torchtitan", (1, 2, 4))
    _assert_really_sharded(titan_worlds, "torchtitan")
    assert "Llama3Model" in titan_worlds["stdout"] and "LOOK-ALIKE" not in titan_worlds["stdout"]


@pytest.mark.distributed
@pytest.mark.peers
def test_torchtitan_rope_caches_are_torchtitans_own(titan_worlds):
    # With torchtitan's TP the caches become Replicate DTensors: gathered, still equal.
    _params, rope = _reference("torchtitan")
    for world, rank in ((1, 0), (4, 3)):
        for label, mesh in titan_worlds[(world, rank)]["meshes"].items():
            _assert_equal_bits(mesh["buffers"], rope, (world, rank, label))
    model = ex.build("torchtitan", "cpu")  # and a model built directly on the CPU
    for name, cache in model.named_buffers():
        assert torch.equal(_bits(cache), _bits(rope[name])), name


@pytest.mark.distributed
def test_lookalike_llama3_sharded_world_equals_one_process_bit_for_bit(lookalike_world):
    _check(lookalike_world, "lookalike", (4,))
    _assert_really_sharded(lookalike_world, "lookalike")
    assert "LOOK-ALIKE" in lookalike_world["stdout"]


def test_digest_covers_names_and_bits():
    a = {"w": torch.zeros(3), "v": torch.ones(2)}
    assert ex.digest(a) == ex.digest(dict(reversed(a.items())))  # name order, not dict order
    assert ex.digest(a) != ex.digest({"w": torch.zeros(3), "u": torch.ones(2)})
    assert ex.digest(a) != ex.digest({"w": -torch.zeros(3), "v": torch.ones(2)})  # -0.0
    assert ex.same_bits(a, dict(a)) and not ex.same_bits(a, {"w": -torch.zeros(3),
                                                            "v": torch.ones(2)})
