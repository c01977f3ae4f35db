"""torchtitan's Llama 3, sharded, initialized with no seed checkpoint.

    python examples/no_seed_checkpoint.py          # runs worlds of 1, 2 and 4 ranks itself
    python -m torch.distributed.run --nproc-per-node 4 examples/no_seed_checkpoint.py

torchtitan's answer to "the same initial weights as one GPU, under any parallelism" is a
seed checkpoint (``--checkpoint.create_seed_checkpoint``): initialize the whole model once
on one CPU, save it, and load it on every mesh, because its ``init_weights`` draws each
rank's shard from torch's generator, so what a rank draws depends on the mesh (the last
line of each world shows it on the CPU).  gpuinit
makes each rank's shard directly, as that block of the whole tensor: no checkpoint, no
whole model in any one memory, no communication.

The model is built as torchtitan's trainer builds it: ``Llama3Model.Config(...).build()``
under ``torch.device("meta")`` (torchtitan's own classes; a look-alike ``nn.Module`` with
torchtitan's module names, labeled as such, where torchtitan is not installed), then
parallelized, then initialized by ``materialize(model, "cpu", seed=0,
scheme="torchtitan")``.  Meshes, in a world of N CPU processes (gloo):

* ``fsdp=N``: torch's ``fully_shard`` on the embedding, each block, norm + lm_head and the
  root, the units of torchtitan's ``apply_fsdp_to_decoder``;
* ``fsdp=2 x tp=2`` (N = 4): ``parallelize_module`` with ColwiseParallel on ``wqkv``,
  ``w1``, ``w3`` and ``lm_head`` and RowwiseParallel on ``wo``, ``w2`` and
  ``tok_embeddings`` (the placements of torchtitan's own tensor-parallel plan) over
  ``tp``, then ``fully_shard`` over ``fsdp``;
* torchtitan installed: its own ``parallelize_llama`` (``Module.parallelize`` from the
  model's sharding config, then ``apply_fsdp_to_decoder``) with ``dp_shard=N`` and, for
  N = 4, ``dp_shard=2 x tp=2``, on its DTensor backend (``spmd_backend=
  "partial_dtensor"``).

For each mesh every parameter is gathered with ``full_tensor()`` and hashed (sha256 of
each parameter's name and bytes, in name order); the line says whether that equals the
single-process ``materialize`` of the same model (no DTensor), bit for bit, and whether
the RoPE caches equal the ones torchtitan computes itself.  For contrast, the last line
runs torchtitan's own ``init_weights`` on the ``fsdp=N`` mesh after
``torch.manual_seed(0)`` and compares it with one process doing the same.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
from torch import nn

SEED = 0
SCHEME = "torchtitan"
# dim 64, 4 heads of 16 (2 kv heads), 2 layers, SwiGLU hidden 192; the vocabulary (250)
# splits unevenly over 4 ranks (63, 63, 63, 61: FSDP2 pads the last shard).
DIM, HEADS, KV_HEADS, LAYERS, VOCAB, SEQ = 64, 4, 2, 2, 250, 96


# --- the model ----------------------------------------------------------------------------


def titan_config():
    """Return torchtitan's ``Llama3Model.Config`` of the tiny model, made by torchtitan's own
    helpers as its ``llama3_configs`` are (``_build_llama3_layers``: fused wqkv, depth-scaled
    wo/w2/w3; ComplexRoPE with Llama 3 scaling)."""
    from torchtitan.models import llama3 as L
    from torchtitan.models.common import (
        ComplexRoPE,
        Embedding,
        Linear,
        RMSNorm,
        compute_ffn_hidden_dim,
    )

    return L.Llama3Model.Config(
        dim=DIM, vocab_size=VOCAB,
        tok_embeddings=Embedding.Config(num_embeddings=VOCAB, embedding_dim=DIM,
                                        param_init=L._EMBEDDING_INIT),
        norm=RMSNorm.Config(normalized_shape=DIM, param_init=L._NORM_INIT),
        lm_head=Linear.Config(in_features=DIM, out_features=VOCAB,
                              param_init=L._output_linear_init(DIM)),
        layers=L._build_llama3_layers(
            fuse_qkv=True, n_layers=LAYERS, dim=DIM, n_heads=HEADS, n_kv_heads=KV_HEADS,
            hidden_dim=compute_ffn_hidden_dim(DIM, multiple_of=32),
            rope=ComplexRoPE.Config(dim=DIM // HEADS, max_seq_len=SEQ, theta=500000,
                                    scaling="llama", original_max_position_embeddings=32),
            attn_backend="flex"))


class LookAlikeRoPE(nn.Module):
    """LOOK-ALIKE (not torchtitan): a ``cache`` buffer made by ``_precompute_cache()``, as
    torchtitan 0.3.0's ComplexRoPE (here without its Llama 3 frequency scaling)."""

    def __init__(self, head_dim, seq, theta=500000.0):
        super().__init__()
        self.head_dim, self.seq, self.theta = head_dim, seq, theta
        self.register_buffer("cache", self._precompute_cache(), persistent=False)

    def _precompute_cache(self):
        d = self.head_dim
        freqs = 1.0 / (self.theta ** (torch.arange(0, d, 2)[: d // 2].float() / d))
        angles = torch.outer(torch.arange(self.seq), freqs).float()
        return torch.polar(torch.ones_like(angles), angles)


class LookAlikeLlama3(nn.Module):
    """LOOK-ALIKE (not torchtitan): plain ``nn`` modules under torchtitan 0.3.0's Llama 3
    names (``tok_embeddings``, ``layers.<i>.attention.qkv_linear.wqkv``, ``.wo``,
    ``.rope.cache``, ``feed_forward.w1/w2/w3``, ``attention_norm``, ``ffn_norm``,
    ``norm``, ``lm_head``), used only where torchtitan is not installed."""

    def __init__(self):
        super().__init__()
        hidden, kv = 3 * DIM, KV_HEADS * DIM // HEADS
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = nn.ModuleDict()
        for i in range(LAYERS):
            block = nn.Module()
            block.attention = nn.Module()
            block.attention.qkv_linear = nn.Module()
            block.attention.qkv_linear.wqkv = nn.Linear(DIM, DIM + 2 * kv, bias=False)
            block.attention.wo = nn.Linear(DIM, DIM, bias=False)
            block.attention.rope = LookAlikeRoPE(DIM // HEADS, SEQ)
            block.feed_forward = nn.Module()
            block.feed_forward.w1 = nn.Linear(DIM, hidden, bias=False)
            block.feed_forward.w2 = nn.Linear(hidden, DIM, bias=False)
            block.feed_forward.w3 = nn.Linear(DIM, hidden, bias=False)
            block.attention_norm, block.ffn_norm = nn.RMSNorm(DIM), nn.RMSNorm(DIM)
            self.layers[str(i)] = block
        self.norm = nn.RMSNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)


def have_torchtitan() -> bool:
    return importlib.util.find_spec("torchtitan") is not None


def model_kind(requested: str) -> str:
    """Return "torchtitan" or "lookalike" for ``--model`` (auto: torchtitan if installed)."""
    if requested == "auto":
        return "torchtitan" if have_torchtitan() else "lookalike"
    if requested == "torchtitan" and not have_torchtitan():
        raise SystemExit("--model torchtitan: torchtitan is not installed "
                         "(pip install torchtitan)")
    return requested


def build(kind: str, device="meta") -> nn.Module:
    """Return the model built under ``torch.device(device)``."""
    with torch.device(device):
        return titan_config().build() if kind == "torchtitan" else LookAlikeLlama3()


def titan_rope_caches(kind: str) -> dict[str, torch.Tensor]:
    """Return the RoPE caches as the codebase makes them: torchtitan's trainer path
    (meta, ``to_empty``, ``init_weights``, which recomputes them on the CPU); the
    look-alike's constructor on the CPU."""
    if kind == "torchtitan":
        model = build(kind)
        model.to_empty(device="cpu")
        with torch.no_grad():
            model.init_weights(buffer_device=None)
    else:
        model = build(kind, "cpu")
    return {n: b.detach().clone() for n, b in model.named_buffers()}


def titan_init_weights(model: nn.Module, seed: int) -> nn.Module:
    """torchtitan's own initialization, as its trainer runs it (no seed checkpoint)."""
    model.to_empty(device="cpu")
    torch.manual_seed(seed)
    with torch.no_grad():
        model.init_weights(buffer_device=None)
    return model


# --- the meshes ---------------------------------------------------------------------------


def _fsdp_units(model: nn.Module, mesh) -> nn.Module:
    """``fully_shard`` with the units of torchtitan's ``apply_fsdp_to_decoder`` (untied)."""
    from torch.distributed.fsdp import fully_shard

    fully_shard(model.tok_embeddings, mesh=mesh)
    fully_shard([model.norm, model.lm_head], mesh=mesh)
    for block in model.layers.values():
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def fsdp(kind: str, world: int) -> nn.Module:
    """Return the meta model FSDP2-sharded over all ``world`` ranks."""
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("fsdp",))
    return _fsdp_units(build(kind), mesh)


def fsdp_tp(kind: str, world: int) -> nn.Module:
    """Return the meta model tensor-parallel over ``tp`` by ``parallelize_module``, then
    FSDP2-sharded over ``fsdp``."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    model = build(kind)
    mesh = init_device_mesh("cpu", (world // 2, 2), mesh_dim_names=("fsdp", "tp"))
    parallelize_module(model, mesh["tp"], {
        "tok_embeddings": RowwiseParallel(input_layouts=Replicate()),
        "lm_head": ColwiseParallel(output_layouts=Replicate()),
    })
    plan = {"attention.qkv_linear.wqkv": ColwiseParallel(), "attention.wo": RowwiseParallel(),
            "feed_forward.w1": ColwiseParallel(), "feed_forward.w3": ColwiseParallel(),
            "feed_forward.w2": RowwiseParallel()}
    for block in model.layers.values():
        parallelize_module(block, mesh["tp"], plan)
    return _fsdp_units(model, mesh["fsdp"])


def titan_parallelize(dp_shard: int, tp: int):
    """Return make(kind, world): the meta model sharded by torchtitan's own
    ``parallelize_llama``."""

    def make(kind: str, world: int) -> nn.Module:
        import torchtitan.distributed.parallel_dims as parallel_dims
        from torchtitan.config import CompileConfig, ParallelismConfig, TrainingConfig
        from torchtitan.models.llama3 import parallelize_llama
        from torchtitan.models.llama3.sharding import set_llama3_sharding_config

        # torchtitan takes its mesh's device from the accelerator ("cuda" when there is
        # none): on the CPU, point its ParallelDims at the CPU.
        parallel_dims.device_type = "cpu"
        parallelism = ParallelismConfig(data_parallel_shard_degree=dp_shard,
                                        tensor_parallel_degree=tp,
                                        spmd_backend="partial_dtensor")
        dims = parallel_dims.ParallelDims.from_config(parallelism, world)
        dims.build_mesh()
        # The sharding config goes on the model's config before the build, as in
        # torchtitan's trainer.
        config = titan_config()
        set_llama3_sharding_config(config, enable_sp=False)
        with torch.device("meta"):
            model = config.build()
        return parallelize_llama(model, parallel_dims=dims, training=TrainingConfig(),
                                 parallelism=parallelism, compile_config=CompileConfig(),
                                 ac_config=None, dump_folder="")

    return make


def meshes(kind: str, world: int) -> list[tuple[str, object]]:
    """Return [(label, make(kind, world) -> sharded meta model)] for ``world`` ranks."""
    found = [(f"fsdp={world} (fully_shard)", fsdp)]
    if world == 4:
        found.append(("fsdp=2 x tp=2 (parallelize_module, fully_shard)", fsdp_tp))
    if kind == "torchtitan":
        found.append((f"dp_shard={world} (torchtitan's parallelize_llama)",
                      titan_parallelize(world, 1)))
        if world == 4:
            found.append(("dp_shard=2 x tp=2 (torchtitan's parallelize_llama)",
                          titan_parallelize(2, 2)))
    return found


# --- gathering and hashing ----------------------------------------------------------------


def whole(t: torch.Tensor) -> torch.Tensor:
    """Return the whole tensor on this rank (``full_tensor()`` of a DTensor)."""
    from torch.distributed.tensor import DTensor

    t = t.detach()
    return (t.full_tensor() if isinstance(t, DTensor) else t).cpu().clone()


def gathered(model: nn.Module) -> tuple[dict, dict]:
    """Return ({parameter name: whole tensor}, {buffer name: whole tensor})."""
    return ({n: whole(p) for n, p in model.named_parameters()},
            {n: whole(b) for n, b in model.named_buffers()})


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 of every tensor's name and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(tensors[name].contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def same_bits(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[n].dtype == b[n].dtype and a[n].shape == b[n].shape
        and torch.equal(a[n].view(torch.uint8), b[n].view(torch.uint8)) for n in a)


def placements(model: nn.Module) -> dict[str, str]:
    return {n: str(getattr(p, "placements", "plain")) for n, p in model.named_parameters()}


# --- one world ----------------------------------------------------------------------------


def quiet() -> None:
    """Silence DTensor's chatter (sequential all-gathers, CPU random ops)."""
    logging.getLogger("torch.distributed.tensor._redistribute").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*DTensor random operators.*")


def worker(args) -> None:
    import torch.distributed as dist

    from gpuinit.torch import materialize

    quiet()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    kind = model_kind(args.model)

    single = materialize(build(kind), "cpu", seed=SEED, scheme=SCHEME)
    reference, _ = gathered(single)
    rope = titan_rope_caches(kind)
    n_params = sum(t.numel() for t in reference.values())
    if kind == "torchtitan":
        import torchtitan

        version = getattr(torchtitan, "__version__", None) or _dist_version("torchtitan")
        label = f"torchtitan {version} Llama3Model"
        rope_source = "torchtitan computes them"
    else:
        why = "--model lookalike" if have_torchtitan() else "torchtitan is not installed"
        label = f"LOOK-ALIKE of torchtitan's Llama3Model ({why})"
        rope_source = "its constructor computes them"
    lines = [f"world of {world} rank{'s' * (world > 1)} (gloo, CPU): {label}, dim {DIM}, "
             f"{LAYERS} layers, vocab {VOCAB} ({n_params / 1e6:.2f} M parameters), "
             f"seed {SEED}, scheme {SCHEME!r}",
             f"  {'one process, no DTensor:':60} digest {digest(reference)[:16]}"]
    saved = {"world": world, "rank": rank, "kind": kind, "meshes": {}}
    all_equal = True
    for name, make in meshes(kind, world):
        model = make(kind, world)
        start = time.perf_counter()
        materialize(model, "cpu", seed=SEED, scheme=SCHEME)
        elapsed = time.perf_counter() - start
        params, buffers = gathered(model)
        equal = same_bits(params, reference)
        rope_ok = same_bits(buffers, rope)
        found = digest(params)
        # Every rank gathers the same whole tensors: check that too.
        views = [None] * world
        dist.all_gather_object(views, (found, equal, rope_ok))
        equal = all(v[1] for v in views) and len({v[0] for v in views}) == 1
        rope_ok = all(v[2] for v in views)
        all_equal &= equal and rope_ok
        lines.append(f"  mesh {name + ':':55} digest {found[:16]}, equal to one process: "
                     f"{equal}, RoPE caches as {rope_source}: {rope_ok}"
                     f" ({elapsed * 1e3:.0f} ms)")
        saved["meshes"][name] = {"params": params, "buffers": buffers,
                                 "placements": placements(model), "digest": found}
    if kind == "torchtitan":
        theirs = digest(gathered(titan_init_weights(build(kind), SEED))[0])
        sharded = digest(gathered(titan_init_weights(fsdp(kind, world), SEED))[0])
        lines.append(f"  contrast: torchtitan's own init_weights on mesh fsdp={world} after "
                     f"torch.manual_seed({SEED}): digest {sharded[:16]}, equal to one "
                     f"process's: {sharded == theirs} (one process: {theirs[:16]})")
        saved["titan"] = {"single": theirs, "sharded": sharded}
    if args.save:
        Path(args.save).mkdir(parents=True, exist_ok=True)
        torch.save(saved, Path(args.save) / f"world{world}-rank{rank}.pt")
    if rank == 0:
        print("\n".join(lines), flush=True)
    dist.destroy_process_group()
    if not all_equal:
        raise SystemExit(1)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


# --- every world, from one command --------------------------------------------------------


def launch(args) -> None:
    """Run this file in worlds of each size of ``--worlds``, one after another."""
    root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH"))
                                          if p))
    extra = ["--model", args.model] + (["--save", args.save] if args.save else [])
    failed = []
    for world in args.worlds:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={world}", __file__, *extra]
        done = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=args.timeout)
        print(done.stdout.rstrip(), flush=True)
        if done.returncode != 0:
            failed.append(world)
            print(f"world of {world} failed (exit {done.returncode}):\n"
                  f"{done.stderr[-4000:]}", file=sys.stderr, flush=True)
    if failed:
        raise SystemExit(1)
    print(f"every mesh of worlds {', '.join(map(str, args.worlds))} equals one process bit "
          "for bit: no seed checkpoint needed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("auto", "torchtitan", "lookalike"), default="auto",
                        help="torchtitan's own classes (auto: when installed) or the "
                             "look-alike")
    parser.add_argument("--worlds", type=lambda s: [int(w) for w in s.split(",")],
                        default=[1, 2, 4], help="world sizes when run alone (default 1,2,4)")
    parser.add_argument("--save", help="folder for each rank's gathered tensors (tests)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds per world when run alone")
    args = parser.parse_args()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:  # under torch.distributed.run
        worker(args)
    else:
        launch(args)


if __name__ == "__main__":
    main()
