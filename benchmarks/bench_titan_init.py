"""torchtitan's Llama 3 on 2 CPU ranks: gpuinit's materialize vs torchtitan's own init.

Each model is built as torchtitan's trainer builds it (``Llama3Model.Config.build()`` on
the meta device) and sharded by torchtitan's own ``parallelize_llama`` (FSDP2,
``dp_shard=2``, its DTensor backend) over 2 CPU ranks (gloo, 1 thread each).  On the
same ranks, one after the other, timed between barriers (the slowest rank):

* torchtitan: ``model.to_empty(device="cpu")``, ``torch.manual_seed(0)``,
  ``model.init_weights(buffer_device=None)`` under ``no_grad``, as its trainer does;
  each rank draws its shard from torch's generator;
* torchtitan with a seed checkpoint: the same, then the seed checkpoint loaded as
  torchtitan's checkpointer loads a model-only step 0 (``ModelWrapper`` state dict,
  ``torch.distributed.checkpoint.load``, ``load_state_dict``);
  making the checkpoint (one process: the whole model, ``init_weights``, ``dcp.save``)
  is timed on its own;
* gpuinit: ``materialize(model, "cpu", seed=0, scheme="torchtitan")``.

Reported per path: the median wall time, each rank's peak resident memory growth during
one run (Linux VmHWM, reset before it) against the rank's own shard, and whether the
sharded result equals, bit for bit, the same path run in one process on the unsharded
model (the token embedding and the first block's fused wqkv after ``full_tensor()``).

    python benchmarks/bench_titan_init.py [--ranks 2] [--repeat 3] [--models debugmodel,small]

It launches itself under ``python -m torch.distributed.run`` and writes
``benchmarks/results/titan-init-cpu-<machine>-<ranks>ranks.md``.  It needs torchtitan.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

RESULTS = Path(__file__).parent / "results"
CHECKED = ("tok_embeddings.weight", "layers.0.attention.qkv_linear.wqkv.weight")


# --- models -------------------------------------------------------------------------------


def titan_config(name: str):
    """Return torchtitan's Llama3Model.Config: its own ``debugmodel`` flavor, or ``small``
    (the 1B's head layout at width 1024: 8 layers, 16 heads, 8 kv heads, vocabulary 32000),
    made by torchtitan's helpers."""
    from torchtitan.models import llama3 as L
    from torchtitan.models.common import (
        ComplexRoPE,
        Embedding,
        Linear,
        RMSNorm,
        compute_ffn_hidden_dim,
    )

    if name == "debugmodel":
        return L.llama3_configs["debugmodel"]("flex")
    dim, heads, kv, layers, vocab = 1024, 16, 8, 8, 32000
    return L.Llama3Model.Config(
        dim=dim, vocab_size=vocab,
        tok_embeddings=Embedding.Config(num_embeddings=vocab, embedding_dim=dim,
                                        param_init=L._EMBEDDING_INIT),
        norm=RMSNorm.Config(normalized_shape=dim, param_init=L._NORM_INIT),
        lm_head=Linear.Config(in_features=dim, out_features=vocab,
                              param_init=L._output_linear_init(dim)),
        layers=L._build_llama3_layers(
            fuse_qkv=True, n_layers=layers, dim=dim, n_heads=heads, n_kv_heads=kv,
            hidden_dim=compute_ffn_hidden_dim(dim, multiple_of=256, ffn_dim_multiplier=1.3),
            rope=ComplexRoPE.Config(dim=dim // heads, max_seq_len=8192, theta=500000,
                                    scaling="llama"),
            attn_backend="flex"))


def build(name: str, device="meta"):
    with torch.device(device):
        return titan_config(name).build()


def sharded(name: str, dims):
    """The meta model sharded by torchtitan's parallelize_llama over ``dims``."""
    from torchtitan.config import CompileConfig, TrainingConfig
    from torchtitan.models.llama3 import parallelize_llama
    from torchtitan.models.llama3.sharding import set_llama3_sharding_config

    config = titan_config(name)
    set_llama3_sharding_config(config, enable_sp=False)
    with torch.device("meta"):
        model = config.build()
    return parallelize_llama(model, parallel_dims=dims[0], training=TrainingConfig(),
                             parallelism=dims[1], compile_config=CompileConfig(),
                             ac_config=None, dump_folder="")


# --- the paths ----------------------------------------------------------------------------


def titan_path(model, checkpoint=None):
    model.to_empty(device="cpu")
    torch.manual_seed(0)
    with torch.no_grad():
        model.init_weights(buffer_device=None)
    if checkpoint is not None:  # torchtitan's model-only load (checkpointer/dcp.py dcp_load)
        import torch.distributed.checkpoint as dcp
        from torchtitan.components.checkpointer.base import ModelWrapper

        wrapper = ModelWrapper(model)
        state = wrapper.state_dict()  # fused wqkv appears as wq/wk/wv, by its hooks
        dcp.load(state, checkpoint_id=checkpoint)
        wrapper.load_state_dict(state)
    return model


def gpuinit_path(model, checkpoint=None):
    from gpuinit.torch import materialize

    return materialize(model, "cpu", seed=0, scheme="torchtitan")


PATHS = {
    "torchtitan: to_empty + init_weights (torch RNG per rank)": (titan_path, False),
    "torchtitan + seed checkpoint: to_empty + init_weights + dcp.load": (titan_path, True),
    "gpuinit: materialize(scheme='torchtitan')": (gpuinit_path, False),
}


def make_seed_checkpoint(name: str, folder: str) -> dict:
    """One process, as torchtitan's ``--checkpoint.create_seed_checkpoint``: the whole model
    on the CPU, initialized, saved by DCP. Return its time and peak memory growth."""
    import torch.distributed.checkpoint as dcp
    from torchtitan.components.checkpointer.base import ModelWrapper

    before = _reset_peak()
    start = time.perf_counter()
    model = titan_path(build(name))
    dcp.save(ModelWrapper(model).state_dict(), checkpoint_id=folder, no_dist=True)
    elapsed = time.perf_counter() - start
    growth = _status_kib("VmHWM") - before
    size = sum(f.stat().st_size for f in Path(folder).iterdir())
    del model
    return {"time_s": elapsed, "growth_kib": growth, "bytes_on_disk": size}


# --- memory -------------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(field)).split()[1])


def _reset_peak() -> int:
    """Return the resident memory after handing freed heap memory back, with the peak
    (VmHWM) reset to it."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_kib("VmRSS")


# --- one rank -----------------------------------------------------------------------------


def _local(t):
    return getattr(t, "_local_tensor", t)


def worker(args) -> None:
    import torch.distributed as dist
    import torchtitan.distributed.parallel_dims as parallel_dims
    import torchtitan.models.llama3  # noqa: F401  (first, as the trainer: its imports register
    from torchtitan.config import ParallelismConfig  # the "fake" group of size-1 mesh axes)

    logging.getLogger("torch.distributed.tensor._redistribute").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*DTensor random operators.*")
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    parallel_dims.device_type = "cpu"  # torchtitan's default is "cuda" without an accelerator
    parallelism = ParallelismConfig(data_parallel_shard_degree=world,
                                    spmd_backend="partial_dtensor")
    dims = parallel_dims.ParallelDims.from_config(parallelism, world)
    dims.build_mesh()
    dims = (dims, parallelism)
    report = {}
    for name in args.models:
        folder = [tempfile.mkdtemp(prefix="seed-ckpt-", dir=args.scratch) if rank == 0
                  else None]
        dist.broadcast_object_list(folder)
        folder = folder[0]
        created = make_seed_checkpoint(name, folder) if rank == 0 else None
        dist.barrier()
        rows = {}
        for label, (path, uses_checkpoint) in PATHS.items():
            checkpoint = folder if uses_checkpoint else None
            path(sharded(name, dims), checkpoint)  # warm-up: kernels, allocator, files
            times = []
            for _ in range(args.repeat):
                model = sharded(name, dims)
                gc.collect()
                dist.barrier()
                start = time.perf_counter()
                path(model, checkpoint)
                dist.barrier()
                times.append(time.perf_counter() - start)
                del model
            model = sharded(name, dims)
            before = _reset_peak()
            path(model, checkpoint)
            growth = _status_kib("VmHWM") - before
            local = sum(_local(p).numel() * p.element_size() for p in model.parameters())
            buffers = sum(_local(b).numel() * b.element_size() for b in model.buffers())
            fulls = {n: model.get_parameter(n).full_tensor() for n in CHECKED}
            del model
            single = path(build(name), checkpoint)
            same = all(torch.equal(fulls[n].view(torch.int32),
                                   single.get_parameter(n).detach().view(torch.int32))
                       for n in CHECKED)
            del single, fulls
            gathered = [None] * world
            dist.all_gather_object(gathered, {"growth_kib": growth, "local_bytes": local,
                                              "buffer_bytes": buffers})
            rows[label] = {"times_s": times, "time_s": statistics.median(times),
                           "ranks": gathered, "same": same}
        dist.barrier()
        if rank == 0:
            shutil.rmtree(folder, ignore_errors=True)
            probe = build(name)
            report[name] = {"rows": rows, "seed_checkpoint": created,
                            "params": sum(p.numel() for p in probe.parameters()),
                            "bytes": sum(p.numel() * 4 for p in probe.parameters())}
    if rank == 0:
        Path(args.out).write_text(json.dumps(report))
    dist.destroy_process_group()


# --- the report ---------------------------------------------------------------------------


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _markdown(report: dict, args) -> list[str]:
    from importlib.metadata import version

    import numba

    import gpuinit as gi

    lines = [f"# torchtitan's Llama 3: gpuinit's materialize vs torchtitan's init, "
             f"{args.ranks} CPU ranks", "",
             f"{_cpu_name()}, {platform.machine()}, {os.cpu_count()} cores shared by "
             f"{args.ranks} ranks (gloo; load average {args.load:.1f} when it began), "
             "1 thread each (OMP_NUM_THREADS=1, NUMBA_NUM_THREADS=1, torch.set_num_threads(1)); "
             f"torch {torch.__version__}, torchtitan {version('torchtitan')}, numba "
             f"{numba.__version__}, gpuinit {gi.__version__}; median of {args.repeat} runs "
             "after a warm-up; float32.  Every model: torchtitan's `Llama3Model`, built on "
             "meta and sharded by torchtitan's own `parallelize_llama` (FSDP2, "
             f"dp_shard={args.ranks}, `spmd_backend=\"partial_dtensor\"`).", ""]
    for name, model in report.items():
        rows, created = model["rows"], model["seed_checkpoint"]
        whole = model["bytes"] / 2**20
        lines += [f"## {name}: {model['params']:,} parameters, {whole:.0f} MiB whole", "",
                  "| path | time (s) | runs (s) | peak RSS growth per rank (MiB) | rank's "
                  "shard + buffers (MiB) | growth / (shard + buffers) | equals one process |",
                  "|---|---:|---|---|---:|---:|---|"]
        for label, row in rows.items():
            growth = [r["growth_kib"] / 1024 for r in row["ranks"]]
            shard = max(r["local_bytes"] for r in row["ranks"]) / 2**20
            buffers = max(r["buffer_bytes"] for r in row["ranks"]) / 2**20
            lines.append(f"| {label} | {row['time_s']:.3f} | "
                         f"{', '.join(f'{t:.3f}' for t in row['times_s'])} | "
                         f"{', '.join(f'{g:.0f}' for g in growth)} | {shard:.1f} + "
                         f"{buffers:.1f} | {max(growth) / (shard + buffers):.2f} | "
                         f"{'yes' if row['same'] else 'no'} |")
        labels = list(rows)
        titan, seeded, ours = (rows[label]["time_s"] for label in labels)
        lines += ["", f"Making the seed checkpoint (one process, the whole model, "
                  f"init_weights + dcp.save): {created['time_s']:.3f} s, peak RSS growth "
                  f"{created['growth_kib'] / 1024:.0f} MiB, {created['bytes_on_disk'] / 2**20:.0f}"
                  " MiB on disk.", "",
                  f"Ratios, same run: torchtitan's init_weights / materialize = "
                  f"{titan / ours:.2f}x; seed-checkpoint load path / materialize = "
                  f"{seeded / ours:.2f}x; (making the checkpoint + its load path) / "
                  f"materialize = {(created['time_s'] + seeded) / ours:.2f}x.", ""]
    lines += ["\"Equals one process\": " + ", ".join(CHECKED) + " after `full_tensor()`, "
              "bit for bit, against the same path run in one process on the unsharded model "
              "(torchtitan's after the same `torch.manual_seed(0)`, gpuinit's with the same "
              "seed, the checkpoint path loading the same checkpoint). Peak growth is the "
              "largest resident-memory rise of each rank while the path ran, after freed heap "
              "memory was handed back (`malloc_trim`); the buffers are the RoPE caches (every "
              "rank holds them whole), recomputed by every path.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", type=lambda s: s.split(","),
                        default=["debugmodel", "small"])
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scratch", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if "LOCAL_RANK" in os.environ:
        worker(args)
        return
    args.load = os.getloadavg()[0]  # other jobs on the machine slow every path
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report.json"
        env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={args.ranks}", __file__, "--out", str(out),
                   "--scratch", scratch, "--repeat", str(args.repeat),
                   "--models", ",".join(args.models)]
        done = subprocess.run(command, env=env)
        if done.returncode != 0:
            raise SystemExit(done.returncode)
        report = json.loads(out.read_text())
    lines = _markdown(report, args)
    RESULTS.mkdir(exist_ok=True)
    target = RESULTS / f"titan-init-cpu-{platform.machine()}-{args.ranks}ranks.md"
    target.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
