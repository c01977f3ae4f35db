"""Build a GPT-style transformer's parameters on the device, with a progress bar.

    python examples/huge_model.py                  # gpt2-small, 124M parameters
    python examples/huge_model.py --preset 7b --dtype bfloat16   # on a big GPU
    python examples/huge_model.py --width 512 --depth 8 --vocab 32000

Every parameter is allocated and filled where it lives, by gpuinit's kernels;
nothing is copied to or from the host.  Reports time, parameter count, bytes
and GB/s, and checks the statistics of a few tensors on the device.
"""

import argparse
import time

import gpuinit as gi
from gpuinit.layers import PRESETS, GPTConfig, ProgressBar, build_gpt
from gpuinit.layers.summary import human_bytes


def synchronize(parameters) -> None:
    for p in parameters.values():
        if p.device.is_cuda:
            import cupy

            cupy.cuda.Device(p.device.index).synchronize()
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gpt2-small", choices=sorted(PRESETS))
    parser.add_argument("--width", type=int)
    parser.add_argument("--depth", type=int)
    parser.add_argument("--vocab", type=int)
    parser.add_argument("--context", type=int)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    base = PRESETS[args.preset]
    config = GPTConfig(vocab_size=args.vocab or base.vocab_size,
                       context=args.context or base.context, width=args.width or base.width,
                       depth=args.depth or base.depth, mlp_ratio=base.mlp_ratio)
    dev = gi.device(args.device)
    print(f"{config}\ndevice {dev}, dtype {args.dtype}, {config.count():,} parameters")

    build_gpt("tiny", seed=args.seed, device=dev, dtype=args.dtype)  # compile / load kernels
    start = time.perf_counter()
    parameters = build_gpt(config, seed=args.seed, device=dev, dtype=args.dtype,
                           progress=ProgressBar())
    synchronize(parameters)
    elapsed = time.perf_counter() - start

    nbytes = sum(p.nbytes for p in parameters.values())
    kinds = {f"{type(p.data).__module__.split('.')[0]}.{type(p.data).__name__}"
             for p in parameters.values()}
    print(f"built {len(parameters)} tensors, {sum(p.size for p in parameters.values()):,} "
          f"parameters, {human_bytes(nbytes)} in {elapsed:.3f} s = {nbytes / elapsed / 1e9:.2f} "
          f"GB/s")
    print(f"every parameter is a {', '.join(sorted(kinds))} on {dev}")
    for path in ("token_embedding/weight", "block_0/mlp/proj/weight", "final_norm/gamma"):
        data = parameters[path].data
        sample = data.reshape(-1)[: 1 << 20].astype("float64")
        print(f"  {path:28} {str(parameters[path].shape):14} mean {float(sample.mean()):+.5f} "
              f"std {float(sample.std()):.5f}")


if __name__ == "__main__":
    main()
