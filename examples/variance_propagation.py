"""How initialization shapes activations: std of each layer's output in deep stacks.

    python examples/variance_propagation.py            # relu; table, and a PNG with matplotlib
    python examples/variance_propagation.py --activation tanh --png spread.png

A 50-layer MLP and a 20-layer conv stack, each initialized five ways (Glorot,
He, LeCun, orthogonal, and a naive N(0, 1)), fed the same unit-variance batch.
He keeps relu activations near their input scale; Glorot and LeCun shrink
them by about 1/sqrt(2) per layer; N(0, 1) explodes.
"""

import argparse
import math

import numpy as np

import gpuinit as gi
from gpuinit.layers import Conv2D, Dense, Input, Sequential

INITIALIZERS = {
    "glorot_uniform": "glorot_uniform",
    "he_normal": "he_normal",
    "lecun_normal": "lecun_normal",
    "orthogonal": "orthogonal",
    "naive N(0,1)": gi.initializers.RandomNormal(stddev=1.0),
}


def mlp(weight, activation, depth=50, width=256):
    layers = [Input(width)] + [Dense(width, activation=activation, weight=weight)
                               for _ in range(depth)]
    return Sequential(layers, seed=0, device="cpu", dtype="float64")


def conv_stack(weight, activation, depth=20, channels=16, size=16):
    layers = [Input((size, size, channels))] + [
        Conv2D(channels, 3, padding="same", activation=activation, weight=weight)
        for _ in range(depth)]
    return Sequential(layers, seed=0, device="cpu", dtype="float64")


def stds(model, batch):
    with np.errstate(over="ignore", invalid="ignore"):
        return [float(np.std(y)) for y in model.layer_outputs(batch)]


def table(title, results, columns):
    names = list(results)
    lines = [title, f"{'layer':>6} " + " ".join(f"{n:>15}" for n in names)]
    for i in columns:
        lines.append(f"{i:>6} " + " ".join(f"{results[n][i - 1]:15.4g}" for n in names))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--png", default="variance_propagation.png")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    dense = {name: stds(mlp(init, args.activation), rng.normal(size=(256, 256)))
             for name, init in INITIALIZERS.items()}
    conv = {name: stds(conv_stack(init, args.activation), rng.normal(size=(8, 16, 16, 16)))
            for name, init in INITIALIZERS.items()}
    print(table(f"50-layer MLP, width 256, {args.activation}: std of each layer's output",
                dense, [1, 2, 5, 10, 20, 30, 40, 50]))
    print()
    print(table(f"20-layer conv stack, 3x3x16, {args.activation}: std of each layer's output",
                conv, [1, 2, 5, 10, 15, 20]))

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(no PNG: install the plot extra, pip install 'gpuinit[plot]')")
        return
    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, results, title in ((axes[0], dense, "50-layer MLP"), (axes[1], conv, "conv stack")):
        for name, values in results.items():
            finite = [v if math.isfinite(v) and v > 0 else np.nan for v in values]
            ax.semilogy(range(1, len(values) + 1), finite, label=name)
        ax.set_title(f"{title} ({args.activation})")
        ax.set_xlabel("layer")
        ax.set_ylabel("activation std")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(args.png, dpi=100)
    print(f"\nplot saved to {args.png}")


if __name__ == "__main__":
    main()
