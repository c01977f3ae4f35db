"""Time building a Hugging Face Llama-shaped model from its config: gpuinit against transformers.

Two ways to the same initialized model (the laws of LlamaPreTrainedModel's own
``_init_weights``, rotary ``inv_freq`` computed by its constructor's function):

- transformers: ``AutoModelForCausalLM.from_config(config)`` on the device, which
  allocates and initializes with torch's RNG;
- gpuinit: ``from_config`` under ``torch.device("meta")`` (no memory), then
  ``gpuinit.torch.materialize(model, device, scheme="hf")``: every tensor allocated
  once on the device and filled there by gpuinit's kernels.

Each run builds a fresh model (median of ``--repeat`` runs after a warm-up run that
also compiles the kernels).  The two models' forward passes are compared once (same
weights loaded into the transformers model), so the timing is of equal work.
Writes ``benchmarks/results/hf-<device>.md``.

    python benchmarks/bench_hf.py [--device cpu|cuda] [--hidden 1024] [--layers 8]
        [--vocab 32000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import time
import warnings
from pathlib import Path

import numba
import numpy as np
import torch

import gpuinit as gi
from gpuinit.bench import device_label, write_results
from gpuinit.torch import materialize

RESULTS = Path(__file__).parent / "results"


def _config(args):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden,
                       intermediate_size=args.intermediate or int(2.75 * args.hidden),
                       num_hidden_layers=args.layers, num_attention_heads=args.hidden // 64,
                       num_key_value_heads=max(1, args.hidden // 256),
                       max_position_embeddings=2048)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(build, device: str, repeat: int) -> tuple[float, object]:
    """Return (median seconds, the last model) of ``repeat`` builds after a warm-up."""
    model = build()
    times = []
    for _ in range(repeat):
        del model
        gc.collect()
        _sync(device)
        start = time.perf_counter()
        model = build()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--intermediate", type=int, default=None)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import transformers
    from transformers import AutoModelForCausalLM

    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(numba.get_num_threads())
    config = _config(args)
    device = args.device

    def with_transformers():
        with torch.device(device):
            return AutoModelForCausalLM.from_config(config)

    def with_gpuinit():
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
        return materialize(model, device, seed=0, scheme="hf")

    def meta_only():
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config)

    cases = {"transformers: from_config on the device": with_transformers,
             "gpuinit: from_config on meta + materialize(scheme='hf')": with_gpuinit,
             "  of which: from_config on meta": meta_only}
    times, models = {}, {}
    for name, build in cases.items():
        times[name], models[name] = _timed(build, device, args.repeat)
        print(f"{name:60} {times[name]:8.3f} s", flush=True)

    ours, theirs = models[list(cases)[1]], models[list(cases)[0]]
    theirs.load_state_dict(ours.state_dict())
    ids = torch.randint(0, args.vocab, (1, 64), device=device)
    with torch.no_grad():
        same = torch.equal(ours.eval()(ids).logits, theirs.eval()(ids).logits)
    count = sum(p.numel() for p in ours.parameters())
    nbytes = sum(t.numel() * t.element_size() for t in ours.state_dict().values())
    base = times[list(cases)[0]]
    dev = gi.device("cuda" if device.startswith("cuda") else "cpu")
    lines = [f"# Building a Llama-shaped transformers model from its config: {device}", "",
             f"{platform.processor() or platform.machine()}, {numba.get_num_threads()} threads, "
             f"Python {platform.python_version()}, NumPy {np.__version__}, numba "
             f"{numba.__version__}, torch {torch.__version__}, transformers "
             f"{transformers.__version__}; median of {args.repeat} builds after a warm-up; "
             "each build makes a new model.", "",
             f"LlamaConfig(hidden_size={config.hidden_size}, intermediate_size="
             f"{config.intermediate_size}, num_hidden_layers={config.num_hidden_layers}, "
             f"heads={config.num_attention_heads}/{config.num_key_value_heads}, vocab_size="
             f"{config.vocab_size}): {count:,} parameters, {nbytes / 1e9:.3f} GB float32.", "",
             "| what | time (s) | GB/s | transformers / this |", "|---|---:|---:|---:|"]
    for name, t in times.items():
        lines.append(f"| {name.strip()} | {t:.3f} | {nbytes / t / 1e9:.2f} | {base / t:.2f} |")
    lines += ["", f"Same forward pass with the same weights (logits bit for bit): {same}. "
              "Laws are the same (tests/test_hf_schemes.py), not the values: transformers "
              "draws from torch's RNG, gpuinit from its counter-based Philox streams."]
    path = write_results(RESULTS, f"hf-{device_label(dev)}", lines)
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
