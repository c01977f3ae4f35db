"""Time gpuinit.torch against PyTorch's own initialization of the same models.

Two models: a GPT-style decoder stack of ``nn.TransformerEncoderLayer`` (pre-norm,
4x MLP) with token/position embeddings and an untied head, and a
ResNet-50-shaped conv stack (bottleneck stages 3-4-6-3 of ``nn.Conv2d`` +
``nn.BatchNorm2d``, 25.5 M parameters).  For each, on the chosen device:

* torch: ``with torch.device(dev): Model()`` (allocation + torch's init);
* gpuinit: ``with torch.device("meta"): Model()`` then ``materialize(model, dev)``;
* re-initializing a built model: ``init_module(model, scheme="torch")`` against
  torch's own loop calling every module's ``reset_parameters``;
* on CUDA also ``Model()`` on the CPU (torch's default), the baseline of the
  50x target, and the peak device memory above the parameters' bytes.

Writes ``benchmarks/results/torch-<device>.md``.

    python benchmarks/bench_torch.py [--device cpu|cuda] [--layers 24] [--d-model 2048]
        [--repeat 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numba
import torch
from torch import nn

import gpuinit as gi
from gpuinit.bench import device_label, write_results
from gpuinit.torch import init_module, materialize

RESULTS = Path(__file__).parent / "results"


class GPT(nn.Module):
    """A GPT-style decoder: embeddings, ``layers`` pre-norm blocks, final norm and head."""

    def __init__(self, layers: int, d_model: int, vocab: int = 50304, context: int = 2048):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d_model)
        self.positions = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d_model, max(1, d_model // 128), 4 * d_model,
                                       dropout=0.0, batch_first=True, norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab, bias=False)


def resnet50_shaped() -> nn.Sequential:
    """Return the convolutions and batch norms of ResNet-50, in order (no forward wiring)."""
    modules: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)]
    channels = 64
    for width, blocks in [(64, 3), (128, 4), (256, 6), (512, 3)]:
        for index in range(blocks):
            modules += [nn.Conv2d(channels, width, 1, bias=False), nn.BatchNorm2d(width),
                        nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                        nn.Conv2d(width, 4 * width, 1, bias=False), nn.BatchNorm2d(4 * width)]
            if index == 0:
                modules += [nn.Conv2d(channels, 4 * width, 1, bias=False),
                            nn.BatchNorm2d(4 * width)]
            channels = 4 * width
    modules.append(nn.Linear(2048, 1000))
    return nn.Sequential(*modules)


def torch_reset(model: nn.Module) -> None:
    """Torch's own re-initialization: every module's reset_parameters (or MHA's private one)."""
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None) or \
            getattr(module, "_reset_parameters", None)
        if reset is not None:
            reset()


def _sync(dev) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _time(fn, dev, repeat: int) -> float:
    fn()  # warm-up: compilation, allocator
    _sync(dev)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        _sync(dev)
        times.append(time.perf_counter() - start)
        del result
    return statistics.median(times)


def _peak_extra(fn, dev, nbytes: int) -> int | None:
    """Return the peak device bytes allocated by ``fn`` above the parameters' ``nbytes``."""
    if dev.type != "cuda":
        return None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(dev)
    before = torch.cuda.memory_allocated(dev)
    model = fn()
    _sync(dev)
    peak = torch.cuda.max_memory_allocated(dev) - before
    del model
    return peak - nbytes


def bench_model(name: str, factory, dev: torch.device, repeat: int) -> list[str]:
    """Return the table rows for one model."""
    with torch.device("meta"):
        probe = factory()
    nbytes = sum(t.numel() * t.element_size() for t in
                 list(probe.parameters()) + list(probe.buffers()))
    count = sum(p.numel() for p in probe.parameters())

    def torch_build():
        with dev:
            return factory()

    def gpuinit_build():
        with torch.device("meta"):
            model = factory()
        return materialize(model, dev, seed=0)

    built = torch_build()
    cases = {"torch: with torch.device(dev): Model()": torch_build,
             "gpuinit: meta Model() + materialize(dev)": gpuinit_build,
             "torch: reset_parameters of every module (built model)":
                 lambda: torch_reset(built),
             "gpuinit: init_module(scheme='torch') (built model)":
                 lambda: init_module(built, seed=0)}
    if dev.type == "cuda":
        cases["torch: Model() on the CPU (default init)"] = factory
    times = {label: _time(fn, dev if "CPU" not in label else torch.device("cpu"), repeat)
             for label, fn in cases.items()}
    peaks = {label: _peak_extra(fn, dev, nbytes) for label, fn in list(cases.items())[:2]}
    base = times["gpuinit: meta Model() + materialize(dev)"]
    rows = [f"### {name}: {count:,} parameters, {nbytes / 1e9:.3f} GB", "",
            "| what | time (s) | GB/s | time / materialize | peak device bytes above the "
            "parameters |", "|---|---:|---:|---:|---:|"]
    for label, seconds in times.items():
        peak = peaks.get(label)
        rows.append(f"| {label} | {seconds:.3f} | {nbytes / seconds / 1e9:.2f} | "
                    f"{seconds / base:.2f}x | {'-' if peak is None else f'{peak:,}'} |")
        print(rows[-1], flush=True)
    reset_ratio = times["torch: reset_parameters of every module (built model)"] / \
        times["gpuinit: init_module(scheme='torch') (built model)"]
    rows += ["", f"init_module is {reset_ratio:.2f}x the speed of torch's reset_parameters "
             "loop.", ""]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--layers", type=int, default=None,
                        help="GPT blocks (default 24 on CUDA, 6 on the CPU)")
    parser.add_argument("--d-model", type=int, default=None,
                        help="GPT width (default 2048 on CUDA, 1024 on the CPU)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dev = gi.device(args.device)
    tdev = torch.device(str(dev))
    layers = args.layers or (24 if dev.is_cuda else 6)
    d_model = args.d_model or (2048 if dev.is_cuda else 1024)
    torch.set_num_threads(numba.get_num_threads())
    lines = [f"# gpuinit.torch against PyTorch's own initialization: {device_label(dev)}", "",
             f"{platform.processor() or platform.machine()}, {numba.get_num_threads()} threads; "
             f"torch {torch.__version__}, numba {numba.__version__}, gpuinit {gi.__version__}; "
             f"median of {args.repeat} runs after a warm-up; float32.", ""]
    lines += bench_model(f"GPT-style, {layers} layers, d_model {d_model}",
                         lambda: GPT(layers, d_model), tdev, args.repeat)
    lines += bench_model("ResNet-50-shaped conv stack", resnet50_shaped, tdev, args.repeat)
    path = write_results(RESULTS, f"torch-{device_label(dev)}", lines)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
