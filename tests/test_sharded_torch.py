"""gpuinit.torch on DTensor parameters: FSDP2, tensor parallelism, distribute_tensor.

One world of 4 CPU processes (gloo) runs every scenario once: this file is its worker
(``python -m torch.distributed.run --nproc-per-node 4 tests/test_sharded_torch.py OUT``).
Each rank saves what it holds (its local shards, where they lie in the whole tensor,
``full_tensor()``, error messages, peak memory) and the tests compare that, in this
process, with a single-process ``materialize`` of the same unsharded model: the local
shard must be that block of it and the full tensor it, bit for bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
if not torch.distributed.is_available():
    pytest.skip("this torch build has no torch.distributed", allow_module_level=True)

import gpuinit as gi  # noqa: E402
from gpuinit.torch import init_module, materialize  # noqa: E402

pytestmark = pytest.mark.distributed

WORLD = 4
ROOT = Path(__file__).resolve().parent.parent
SEED = 11


# --- models and schemes, shared by the worker and the reference --------------------------


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)


class MLP(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.c_fc = nn.Linear(d, ff)
        self.c_proj = nn.Linear(ff, d)


class Block(nn.Module):
    def __init__(self, d, ff):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), Attention(d)
        self.ln_2, self.mlp = nn.LayerNorm(d), MLP(d, ff)


class GPT(nn.Module):
    """A GPT-2-shaped model with dimensions no mesh divides (vocab 37, ff 30, ctx 9),
    a padding row on the last rank's shard and the head tied to the token embedding."""

    def __init__(self, vocab=37, d=12, ff=30, ctx=9, layers=2, padding_idx=34):
        super().__init__()
        self.wte = nn.Embedding(vocab, d, padding_idx=padding_idx)
        self.wpe = nn.Embedding(ctx, d)
        self.h = nn.ModuleList(Block(d, ff) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight


def whole_matrix_model():
    """Laws that need the whole matrix or write by position."""
    return nn.Sequential(nn.Linear(10, 14), nn.Linear(14, 6), nn.Conv1d(6, 9, 3),
                         nn.Linear(6, 6), nn.Linear(6, 7))


def _via_gpuinit_init(t, *, seed, stream):
    gi.init.normal_(t, 0.5, 0.25, seed=seed, stream=stream)


def _via_torch_ops(t, *, seed, stream):
    values = torch.arange(t.numel(), dtype=torch.float32).reshape(t.shape)
    t.copy_(values * 0.001 + seed % 7)


SCHEMES = {
    "torch": "torch",
    "gpt2": "gpt2",
    **{name: name for name in ("megatron", "olmo", "neox", "deepnet", "t-fixup")},
    "layered": {"*.weight": "he_normal", "*.bias": ("trunc_normal_", {"std": 0.2}),
                "h.1.mlp.c_fc.weight": ("kaiming_uniform_", {"mode": "fan_out"}),
                "h.0.attn.c_proj.weight": ("xavier_normal_", {"gain": 0.5}),
                "ln_f.weight": ("constant_", {"val": 0.75})},
    "whole": {"0.weight": "orthogonal", "1.weight": ("sparse_", {"sparsity": 0.3}),
              "2.weight": ("dirac_", {}), "3.weight": "identity", "4.weight": ("eye_", {}),
              "0.bias": _via_gpuinit_init, "4.bias": _via_torch_ops},
}
SCENARIOS = {  # name: (model, scheme, dtype)
    "fsdp-torch": (GPT, "torch", "float32"),
    "fsdp-gpt2": (GPT, "gpt2", "float32"),
    "fsdp-layered-bf16": (GPT, "layered", "bfloat16"),
    "tp-torch": (GPT, "torch", "float32"),
    "fsdp-tp-gpt2": (GPT, "gpt2", "float32"),
    "fsdp-tp-layered": (GPT, "layered", "float32"),
    # The named schemes of the large-model codebases (gpuinit.schemes), sharded 2-D.
    **{f"fsdp-tp-{name}": (GPT, name, "float32")
       for name in ("megatron", "olmo", "neox", "deepnet", "t-fixup")},
    "placements-f32": (whole_matrix_model, "whole", "float32"),
    "placements-bf16": (whole_matrix_model, "whole", "bfloat16"),
    "init-module-fsdp": (GPT, "layered", "float32"),
}
# Placements (2 x 2 mesh) for distribute_tensor in the "placements" scenarios.
PLACEMENTS = {
    "0.weight": ("Shard(0)", "Shard(1)"), "0.bias": ("Replicate()", "Shard(0)"),
    "1.weight": ("Shard(1)", "Replicate()"), "1.bias": ("Shard(0)", "Shard(0)"),
    "2.weight": ("Shard(0)", "Shard(2)"), "2.bias": ("Replicate()", "Replicate()"),
    "3.weight": ("Shard(1)", "Shard(0)"), "3.bias": ("Shard(0)", "Replicate()"),
    "4.weight": ("Shard(0)", "Shard(1)"), "4.bias": ("Replicate()", "Shard(0)"),
}


def reference(scenario, device="cpu"):
    """Return {name: tensor} of the single-process materialize of the unsharded model."""
    build, scheme, dtype = SCENARIOS[scenario]
    with torch.device("meta"):
        model = build().to(getattr(torch, dtype))
    materialize(model, device, seed=SEED, scheme=SCHEMES[scheme])
    return {n: p.detach().cpu() for n, p in model.named_parameters()}


# --- the worker: runs on each rank of the world -------------------------------------------


def _tp_plan():
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel

    return {"attn.c_attn": ColwiseParallel(), "attn.c_proj": RowwiseParallel(),
            "mlp.c_fc": ColwiseParallel(), "mlp.c_proj": RowwiseParallel()}


def _sharded_gpt(scenario, meshes, dtype):
    """Return the meta GPT of ``scenario``, sharded as its name says."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import parallelize_module

    with torch.device("meta"):
        model = GPT().to(dtype)
    if scenario.startswith("tp"):
        for block in model.h:
            parallelize_module(block, meshes["1d"], _tp_plan())
        return model
    mesh = meshes["1d"]
    if scenario.startswith("fsdp-tp"):
        mesh = meshes["2d"]["dp"]
        for block in model.h:
            parallelize_module(block, meshes["2d"]["tp"], _tp_plan())
    for block in model.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def _placed_model(meshes, dtype):
    """Return the whole-matrix model on the CPU with each parameter distributed by
    :data:`PLACEMENTS` over the 2 x 2 mesh."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    model = whole_matrix_model().to(dtype)
    kinds = {"Shard(0)": Shard(0), "Shard(1)": Shard(1), "Shard(2)": Shard(2),
             "Replicate()": Replicate()}
    for name, parameter in list(model.named_parameters()):
        index, attr = name.split(".")
        placed = distribute_tensor(parameter.detach(), meshes["2d"],
                                   [kinds[p] for p in PLACEMENTS[name]], src_data_rank=None)
        setattr(model[int(index)], attr, nn.Parameter(placed))
    return model


def _record(model, padded=None):
    """Return {name: what this rank holds of the parameter}."""
    import gpuinit.torch.dtensors as gd

    padded = gd.fsdp_padding(model) if padded is None else padded
    found = {}
    for name, p in model.named_parameters():
        if not gd.is_dtensor(p):  # a parameter the scenario leaves whole on every rank
            found[name] = {"local": p.detach().cpu().clone(), "start": (0,) * p.dim(),
                           "full": p.detach().cpu().clone(), "padding": torch.zeros(0),
                           "placements": "plain"}
            continue
        buffer = padded.get(id(p))
        tail = buffer[p._local_tensor.numel():] if buffer is not None else torch.zeros(0)
        found[name] = {"local": p._local_tensor.detach().cpu().clone(),
                       "start": gd.shard_of(name, p).start,
                       "full": p.full_tensor().detach().cpu() if p.device.type == "cpu" else None,
                       "padding": tail.detach().cpu().clone(), "placements": str(p.placements)}
    return found


def _run_scenario(scenario, meshes, device):
    """Return (model, extra record) after sharding and initializing ``scenario``'s model."""
    build, scheme, dtype_name = SCENARIOS[scenario]
    dtype = getattr(torch, dtype_name)
    if scenario.startswith("placements"):
        model = _placed_model(meshes, dtype)
        init_module(model, seed=SEED, scheme=SCHEMES[scheme])
        return model
    if scenario == "init-module-fsdp":  # a real FSDP2 model, its padding made garbage first
        import gpuinit.torch.dtensors as gd

        model = _sharded_gpt("fsdp", meshes, dtype)
        model.to_empty(device=device)
        for buffer in gd.fsdp_padding(model).values():
            buffer.fill_(float("nan"))
        init_module(model, seed=SEED, scheme=SCHEMES[scheme])
        return model
    model = _sharded_gpt(scenario, meshes, dtype)
    materialize(model, device, seed=SEED, scheme=SCHEMES[scheme])
    return model


def _peak_rss_kib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmHWM")).split()[1])


def _rss_kib():
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1])


def _memory(meshes):
    """Return the peak memory growth (KiB) while materializing one 4096 x 4096 float32
    weight (64 MiB whole, 16 MiB per rank) under FSDP2, after a warm-up."""
    from torch.distributed.fsdp import fully_shard

    def build():
        with torch.device("meta"):
            model = nn.Sequential(nn.Linear(4096, 4096, bias=False))
        fully_shard(model, mesh=meshes["1d"])
        return model

    materialize(build(), "cpu", seed=0)  # compiles the kernel, warms the allocator
    model = build()
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS
    before = _rss_kib()
    materialize(model, "cpu", seed=0)
    return {"growth_kib": _peak_rss_kib() - before,
            "local_kib": model[0].weight._local_tensor.numel() * 4 // 1024}


def _refused(meshes, kind):
    """Return what init_module said and did for a Linear whose bias is a Partial DTensor
    (``kind="partial"``) or a _StridedShard one whose local part is no block of the
    whole (``kind="strided"``: rows {0, 1, 8, 9} of 16 on rank 0, and so on)."""
    from torch.distributed.tensor import DTensor, Partial, Shard, distribute_tensor
    from torch.distributed.tensor.placement_types import _StridedShard

    model = nn.Linear(8, 4 if kind == "partial" else 16)
    model.weight = nn.Parameter(distribute_tensor(model.weight.detach(), meshes["1d"],
                                                  [Shard(0)], src_data_rank=None))
    if kind == "partial":
        bias = DTensor.from_local(torch.full((4,), 3.0), meshes["1d"], [Partial()])
    else:
        bias = DTensor.from_local(torch.full((4,), 3.0), meshes["1d"],
                                  [_StridedShard(0, split_factor=2)], shape=(16,),
                                  stride=(1,))
    model.bias = nn.Parameter(bias)
    before = model.weight._local_tensor.clone()
    try:
        init_module(model, seed=0)
        message = None
    except ValueError as exc:
        message = str(exc)
    return {"message": message,
            "unchanged": bool(torch.equal(before, model.weight._local_tensor))}


def worker(out: str, device: str) -> None:
    """Run every scenario on this rank and save what it holds to ``out/rank<r>.pt``."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    import gpuinit.torch.shards as gs

    mesh_device = "cuda" if device.startswith("cuda") else "cpu"
    if mesh_device == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    meshes = {"1d": init_device_mesh(mesh_device, (WORLD,)),
              "2d": init_device_mesh(mesh_device, (2, 2), mesh_dim_names=("dp", "tp"))}
    wholes = []
    real_fill_whole = gs._fill_whole

    def counted(shard, fill, seed, stream):
        wholes.append(shard.name)
        return real_fill_whole(shard, fill, seed, stream)

    gs._fill_whole = counted
    results = {"coordinate": {k: meshes[k].get_coordinate() for k in ("1d", "2d")}}
    for scenario in SCENARIOS:
        wholes.clear()
        model = _run_scenario(scenario, meshes, device)
        results[scenario] = {"params": _record(model), "whole": list(wholes)}
    gs._fill_whole = real_fill_whole
    import gpuinit.init
    import gpuinit.inplace
    import gpuinit.laws
    import gpuinit.random

    # gpuinit.init reaches the samplers through its laws.
    results["seams restored"] = (gpuinit.init.wrap is gpuinit.inplace.wrap
                                 and gpuinit.init.laws is gpuinit.laws
                                 and gpuinit.laws.elementwise.random is gpuinit.random)
    results["partial"] = _refused(meshes, "partial")
    results["strided"] = _refused(meshes, "strided")
    if mesh_device == "cpu":
        results["memory"] = _memory(meshes)
    torch.save(results, os.path.join(out, f"rank{rank}.pt"))
    dist.destroy_process_group()


# --- the tests ---------------------------------------------------------------------------


def _launch(tmp_path, device):
    """Run the world of :data:`WORLD` ranks and return each rank's saved results."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")]), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc-per-node={WORLD}", __file__, str(tmp_path), device]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return _launch(tmp_path_factory.mktemp("world"), "cpu")


def _bits(t):
    t = t.contiguous()
    return t.view(torch.int16) if t.element_size() == 2 else t.view(torch.int32)


def _assert_blocks(ranks, scenario, want, check_full=True):
    """Assert every rank's local shard is its block of ``want`` and full_tensor is ``want``."""
    for rank, results in enumerate(ranks):
        for name, held in results[scenario]["params"].items():
            local, start = held["local"], held["start"]
            block = tuple(slice(s, s + n) for s, n in zip(start, local.shape, strict=True))
            assert torch.equal(_bits(local), _bits(want[name][block])), (rank, name)
            if check_full:
                assert torch.equal(_bits(held["full"]), _bits(want[name])), (rank, name)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if not s.startswith("placements")])
def test_fsdp2_and_tensor_parallel_shards_are_blocks_of_the_single_process_result(world,
                                                                                 scenario):
    _assert_blocks(world, scenario, reference(scenario))


def test_the_scenarios_really_shard_unevenly_on_1d_and_2d_meshes(world):
    fsdp, tp, both = (world[3][s]["params"] for s in ("fsdp-torch", "tp-torch", "fsdp-tp-gpt2"))
    assert fsdp["wte.weight"]["placements"] == "(Shard(dim=0),)"
    assert tuple(fsdp["wte.weight"]["local"].shape) == (7, 12)  # 37 rows: 10, 10, 10, 7
    assert tp["h.0.mlp.c_fc.weight"]["placements"] == "(Shard(dim=0),)"
    assert tp["h.0.mlp.c_proj.weight"]["placements"] == "(Shard(dim=1),)"
    assert "_StridedShard" in both["h.0.mlp.c_fc.weight"]["placements"]
    assert tuple(both["h.0.mlp.c_fc.weight"]["local"].shape) == (7, 12)  # 30 -> 15 -> 8, 7
    assert [tuple(r["coordinate"]["2d"]) for r in world] == [(0, 0), (0, 1), (1, 0), (1, 1)]


@pytest.mark.parametrize("scenario", ["placements-f32", "placements-bf16"])
def test_distribute_tensor_placements_and_whole_matrix_laws_match(world, scenario):
    _assert_blocks(world, scenario, reference(scenario))
    held = world[0][scenario]["params"]
    assert held["0.weight"]["placements"] == "(Shard(dim=0), Shard(dim=1))"
    assert held["2.weight"]["placements"] == "(Shard(dim=0), Shard(dim=2))"


@pytest.mark.parametrize("scenario", ["placements-f32", "fsdp-tp-gpt2"])
def test_replicated_parameters_are_the_same_bits_on_every_rank_holding_them(world, scenario):
    for name in world[0][scenario]["params"]:
        held = {}  # (start, shape) -> the bits of the first rank holding that block
        for results in world:
            local, start = (results[scenario]["params"][name][k] for k in ("local", "start"))
            first = held.setdefault((start, tuple(local.shape)), _bits(local))
            assert torch.equal(_bits(local), first), (scenario, name)
    everywhere = [r["placements-f32"]["params"]["2.bias"] for r in world]
    assert all(h["placements"] == "(Replicate(), Replicate())" for h in everywhere)
    assert all(h["local"].shape == (9,) for h in everywhere)


def test_only_rules_that_write_by_themselves_make_the_whole_tensor(world):
    for scenario in SCENARIOS:
        expected = ["4.bias"] if scenario.startswith("placements") else []
        for results in world:
            assert results[scenario]["whole"] == expected, scenario


def test_gpuinit_init_is_itself_again_after_the_shards_are_filled(world):
    assert all(results["seams restored"] for results in world)


def test_fsdp2_padding_is_zero(world):
    held = world[3]["init-module-fsdp"]["params"]  # the last rank holds the short shards
    padded = [n for n, h in held.items() if h["padding"].numel()]
    assert "wte.weight" in padded and "h.0.mlp.c_fc.weight" in padded
    for name in padded:
        assert (held[name]["padding"] == 0).all(), name


def test_partial_placement_is_refused_naming_the_parameter_before_any_write(world):
    for results in world:
        message = results["partial"]["message"]
        assert message.startswith("bias: DTensor placement P(sum)") and "Partial" in message
        assert results["partial"]["unchanged"]


def test_a_local_part_that_is_no_block_is_refused_before_any_write(world):
    for rank, results in enumerate(world):
        message = results["strided"]["message"]
        rows = [2 * rank, 2 * rank + 1, 2 * rank + 8, 2 * rank + 9]
        assert message.startswith("bias: placements") and f"indices {rows}" in message
        assert results["strided"]["unchanged"]


def test_peak_memory_stays_near_the_shard_never_the_whole_tensor(world):
    for results in world:
        memory = results["memory"]
        assert memory["local_kib"] == 16 * 1024
        # The whole weight is 64 MiB: a whole-size temporary would show here.
        assert memory["growth_kib"] < 40 * 1024, memory


def test_local_shard_geometry_is_torchs_own(world):
    """The (shape, start) gpuinit computes is what torch's own helper says, where it
    applies (Shard and Replicate placements)."""
    from torch.distributed.tensor._utils import _compute_local_shape_and_global_offset
    from torch.distributed.tensor.placement_types import Replicate, Shard

    kinds = {"Shard(0)": Shard(0), "Shard(1)": Shard(1), "Shard(2)": Shard(2),
             "Replicate()": Replicate()}
    want = reference("placements-f32")
    for results in world:
        coordinate = results["coordinate"]["2d"]
        for name, held in results["placements-f32"]["params"].items():
            placements = [kinds[p] for p in PLACEMENTS[name]]
            shape, start = _compute_local_shape_and_global_offset(
                tuple(want[name].shape), (2, 2), coordinate, placements)
            assert tuple(held["local"].shape) == tuple(shape) and held["start"] == tuple(start)


@pytest.mark.cuda
def test_cuda_shards_are_blocks_of_the_single_gpu_result(tmp_path):
    ranks = _launch(tmp_path, "cuda")
    for scenario in SCENARIOS:
        _assert_blocks(ranks, scenario, reference(scenario, "cuda"), check_full=False)


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "cpu")
