"""A GPT-style model made sharded: FSDP2 x tensor parallel, each rank only its shards.

    python -m torch.distributed.run --nproc-per-node 4 examples/sharded_init.py
    python -m torch.distributed.run --nproc-per-node 4 examples/sharded_init.py --layers 4

The model is built on the meta device, tensor-parallelized (ColwiseParallel /
RowwiseParallel) over one mesh dimension and FSDP2-sharded (``fully_shard`` per block and
root) over the other, then ``gpuinit.torch.materialize`` allocates each rank's shards and
fills them: each rank makes only its own blocks of every weight, with no communication.
Each rank prints the shards it holds; then every ``p.full_tensor()`` is compared with a
single-process ``materialize`` of the unsharded model (same seed and scheme): they are
equal bit for bit, uneven shards (vocabulary 50257 over 4 ranks) included.  Runs on CPUs
(gloo); with one GPU per rank, pass ``--device cuda``.
"""

import argparse
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

from gpuinit.torch import materialize


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
    def __init__(self, vocab: int, d: int, layers: int, context: int):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.h = nn.ModuleList(Block(d) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as in GPT-2


def shard(model: GPT, mesh) -> GPT:
    """Tensor-parallelize each block over mesh["tp"], then FSDP2 over mesh["dp"]."""
    plan = {"attn.c_attn": ColwiseParallel(), "attn.c_proj": RowwiseParallel(),
            "mlp.c_fc": ColwiseParallel(), "mlp.c_proj": RowwiseParallel()}
    for block in model.h:
        parallelize_module(block, mesh["tp"], plan)
        fully_shard(block, mesh=mesh["dp"])
    fully_shard(model, mesh=mesh["dp"])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=50257)
    parser.add_argument("--d", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--scheme", default="gpt2")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    dist.init_process_group("nccl" if args.device == "cuda" else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.device == "cuda":
        torch.cuda.set_device(rank % torch.cuda.device_count())
    tp = 2 if world % 2 == 0 else 1
    mesh = init_device_mesh(args.device, (world // tp, tp), mesh_dim_names=("dp", "tp"))

    with torch.device("meta"):
        model = shard(GPT(args.vocab, args.d, args.layers, args.context), mesh)
    start = time.perf_counter()
    materialize(model, args.device, seed=0, scheme=args.scheme)
    elapsed = time.perf_counter() - start

    held = sum(p._local_tensor.numel() for p in model.parameters()) * 4
    whole = sum(p.numel() for p in model.parameters()) * 4
    lines = [f"rank {rank} (dp, tp) = {tuple(mesh.get_coordinate())}: holds {held / 2**20:.1f} "
             f"of {whole / 2**20:.1f} MiB, made in {elapsed * 1e3:.0f} ms"]
    for name in ("wte.weight", "h.0.attn.c_attn.weight", "h.0.mlp.c_proj.weight", "h.0.ln_1.bias"):
        p = model.get_parameter(name)
        lines.append(f"    {name:24} whole {tuple(p.shape)!s:13} local "
                     f"{tuple(p._local_tensor.shape)!s:12} {p.placements}")
    for r in range(world):  # one rank at a time, so the lines do not interleave
        if r == rank:
            print("\n".join(lines), flush=True)
        dist.barrier()

    with torch.device("meta"):
        single = GPT(args.vocab, args.d, args.layers, args.context)
    reference = dict(materialize(single, args.device, seed=0, scheme=args.scheme)
                     .named_parameters())
    names = [n for n, p in model.named_parameters() if isinstance(p, DTensor)]
    same = sum(torch.equal(model.get_parameter(n).full_tensor().view(torch.int32),
                           reference[n].detach().view(torch.int32)) for n in names)
    if rank == 0:
        print(f"full_tensor() equals the single-process materialize, bit for bit: "
              f"{same}/{len(names)} parameters (seed 0, scheme {args.scheme!r}, "
              f"mesh dp={world // tp} x tp={tp})")
    dist.destroy_process_group()
    if same != len(names):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
