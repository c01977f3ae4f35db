"""FSDP2 + gpuinit's materialize against torch's meta -> to_empty -> reset_parameters.

A GPT-2-small-shaped model (vocabulary 50304, d_model 768, 12 blocks of
attention c_attn/c_proj and MLP c_fc/c_proj, 124 M parameters) is built on the meta
device and sharded with FSDP2 ``fully_shard`` (each block, then the root) over 4 CPU
ranks (gloo).  On the same ranks, one after the other:

* torch: ``model.to_empty(device="cpu")`` then every module's ``reset_parameters()``
  (FSDP2's documented meta-device initialization);
* gpuinit: ``gpuinit.torch.materialize(model, "cpu", seed=0, scheme="torch")``.

Reported per path: the median wall time (the slowest rank, barriers around each run),
each rank's peak resident memory growth during one run (Linux VmHWM, reset before it)
against the bytes of the rank's own shard and of the whole model, and whether the
sharded result equals, bit for bit, the same path run in one process on the unsharded
model (checked on the token embedding and the first block's c_attn weight).

    python benchmarks/bench_sharded.py [--ranks 4] [--layers 12] [--d-model 768] [--repeat 3]

It launches itself under ``python -m torch.distributed.run`` and writes
``benchmarks/results/sharded-cpu-<machine>-<ranks>ranks.md``.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

RESULTS = Path(__file__).parent / "results"
CHECKED = ("wte.weight", "h.0.attn.c_attn.weight")


class Attention(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)


class MLP(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)


class Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d), Attention(d)
        self.ln_2, self.mlp = nn.LayerNorm(d), MLP(d)


class GPT(nn.Module):
    """GPT-2's parameter shapes (untied head, so every tensor is sharded on its own)."""

    def __init__(self, layers: int, d: int, vocab: int = 50304, context: int = 1024):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.h = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith(field)).split()[1])


def _reset_peak() -> int:
    """Return this process's resident memory after handing freed heap memory back to the
    system (so that earlier runs' freed pages cannot hide a new allocation), with the peak
    (VmHWM) reset to it."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    return _status_kib("VmRSS")


def _torch_path(model: nn.Module) -> nn.Module:
    """FSDP2's documented meta initialization: to_empty, then each module's reset_parameters."""
    model.to_empty(device="cpu")
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return model


def _gpuinit_path(model: nn.Module) -> nn.Module:
    from gpuinit.torch import materialize

    return materialize(model, "cpu", seed=0, scheme="torch")


def _kernel_speeds(d: int, world: int) -> dict[str, float]:
    """Return gpuinit's CPU uniform fill in ns per element into two shards of this model:
    a block's c_attn (at most 2^20 values: the one-core loop) and the token embedding
    (more: the parallel loop), as materialize fills them (``out=``, ``full_shape=``)."""
    import numpy as np

    import gpuinit as gi

    speeds = {}
    for label, full in (("c_attn", (3 * d, d)), ("wte", (50304, d))):
        block = (-(-full[0] // world), d)
        out = np.empty(block, dtype=np.float32)

        def fill(out=out, full=full):
            gi.random.uniform(out.shape, -0.1, 0.1, seed=0, out=out, full_shape=full,
                              start=(0, 0))
        fill()
        start = time.perf_counter()
        for _ in range(5):
            fill()
        speeds[f"{label} shard {block[0]} x {block[1]} ({out.size:,} values)"] = \
            (time.perf_counter() - start) / 5 / out.size * 1e9
    return speeds


PATHS = {"torch: to_empty + reset_parameters": _torch_path,
         "gpuinit: materialize(scheme='torch')": _gpuinit_path}


def worker(args) -> None:
    """Run on each rank: time and measure both paths; rank 0 writes the JSON."""
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    warnings.filterwarnings("ignore", module="torch.distributed")  # DTensor RNG on CPU
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    mesh = init_device_mesh("cpu", (world,))

    def sharded():
        with torch.device("meta"):
            model = GPT(args.layers, args.d_model)
        for block in model.h:
            fully_shard(block, mesh=mesh)
        return fully_shard(model, mesh=mesh)

    report = {}
    for label, path in PATHS.items():
        torch.manual_seed(0)
        path(sharded())  # warm-up: kernel compilation, allocator
        times = []
        for _ in range(args.repeat):
            model = sharded()
            torch.manual_seed(0)
            dist.barrier()
            start = time.perf_counter()
            path(model)
            dist.barrier()
            times.append(time.perf_counter() - start)
            del model
        model = sharded()
        before = _reset_peak()
        torch.manual_seed(0)
        path(model)
        growth = _status_kib("VmHWM") - before
        local = sum(p._local_tensor.numel() * 4 for p in model.parameters())
        fulls = {n: model.get_parameter(n).full_tensor() for n in CHECKED}
        del model
        gc.collect()
        with torch.device("meta"):
            single = GPT(args.layers, args.d_model)
        torch.manual_seed(0)
        single = path(single)
        same = all(torch.equal(fulls[n], single.get_parameter(n).detach()) for n in CHECKED)
        del single, fulls
        gathered = [None] * world
        dist.all_gather_object(gathered, {"growth_kib": growth, "local_bytes": local})
        report[label] = {"time_s": statistics.median(times), "ranks": gathered, "same": same}
    if rank == 0:
        report["_kernel"] = _kernel_speeds(args.d_model, world)
        with torch.device("meta"):
            probe = GPT(args.layers, args.d_model)
        report["_model"] = {"params": sum(p.numel() for p in probe.parameters()),
                            "bytes": sum(p.numel() * 4 for p in probe.parameters())}
        Path(args.out).write_text(json.dumps(report))
    dist.destroy_process_group()


def _markdown(report: dict, args) -> list[str]:
    import numba

    import gpuinit as gi

    model = report.pop("_model")
    kernel = report.pop("_kernel")
    lines = [f"# FSDP2 + gpuinit.torch.materialize vs torch's meta init: {args.ranks} CPU ranks",
             "", f"{platform.machine()}, {os.cpu_count()} cores shared by {args.ranks} ranks "
             "(gloo), 1 thread each (OMP_NUM_THREADS=1, NUMBA_NUM_THREADS=1); torch "
             f"{torch.__version__}, numba {numba.__version__}, gpuinit {gi.__version__}; "
             f"median of {args.repeat} runs after a warm-up; float32.", "",
             f"GPT-2-small-shaped model, {args.layers} blocks, d_model {args.d_model}, "
             f"vocabulary 50304, untied head: {model['params']:,} parameters, "
             f"{model['bytes'] / 2**20:.0f} MiB whole; FSDP2 `fully_shard` per block and root "
             f"over {args.ranks} ranks.", "",
             "| path | time (s) | peak RSS growth per rank (MiB) | rank's shard (MiB) | "
             "growth / shard | equals the single-process result |", "|---|---:|---|---:|---:|---|"]
    for label, row in report.items():
        growth = [r["growth_kib"] / 1024 for r in row["ranks"]]
        shard = max(r["local_bytes"] for r in row["ranks"]) / 2**20
        lines.append(f"| {label} | {row['time_s']:.3f} | "
                     f"{', '.join(f'{g:.0f}' for g in growth)} | {shard:.0f} | "
                     f"{max(growth) / shard:.2f} | {'yes' if row['same'] else 'no'} |")
    times = [row["time_s"] for row in report.values()]
    lines += ["", f"materialize takes {times[1] / times[0]:.2f}x the time of torch's path. "
              "Peak growth is the largest resident-memory rise of each rank while the path ran "
              f"(the whole model would be {model['bytes'] / 2**20:.0f} MiB). \"Equals\": "
              f"{', '.join(CHECKED)} after `full_tensor()`, against the same path on the "
              "unsharded model in one process (torch's with the same `torch.manual_seed`, "
              "gpuinit's with the same seed).", "",
              "gpuinit's CPU uniform kernel, timed on rank 0 after both paths, ns per "
              "element: " + "; ".join(f"{k}: {v:.1f}" for k, v in kernel.items()) + ". "
              "Outputs of up to 2^20 values take the one-core loop, which costs several times "
              "the parallel loop per element; FSDP2 over 4 ranks makes every block weight of "
              "this model such a shard, which is where materialize's time goes.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--d-model", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if "LOCAL_RANK" in os.environ:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "report.json"
        env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   f"--nproc-per-node={args.ranks}", __file__, "--layers", str(args.layers),
                   "--d-model", str(args.d_model), "--repeat", str(args.repeat), "--out", str(out)]
        subprocess.run(command, env=env, check=True)
        report = json.loads(out.read_text())
    lines = _markdown(report, args)
    print("\n".join(lines))
    from gpuinit.bench import write_results

    path = write_results(RESULTS, f"sharded-cpu-{platform.machine()}-{args.ranks}ranks", lines)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
