"""The text of ``Sequential.summary()``: a Keras-like table with initializers and memory."""

from __future__ import annotations

from typing import Any

HEADERS = ("Layer (type)", "Output Shape", "Param #", "Initializers", "Dtype", "Device",
           "Bytes")


def human_bytes(n: int) -> str:
    """Return ``n`` bytes as a short string: "512 B", "3.1 KB", "1.20 GB" (powers of 1000)."""
    if n < 1000:
        return f"{n} B"
    for unit, scale in (("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)):
        if n < scale * 1000 or unit == "TB":
            value = n / scale
            return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def summary_table(model: Any) -> str:
    """Return the summary of ``model``: one row per layer, then total, trainable and
    non-trainable parameter counts with their bytes; a shared parameter is
    counted once, in the row of its first use."""
    rows = []
    seen: set[int] = set()
    shape = model.input_shape
    for layer in model.layers:
        shape = layer.output_shape(shape) if shape is not None else None
        own = [p for p in layer.parameters.values() if id(p) not in seen]
        seen.update(id(p) for p in layer.parameters.values())
        shared = len(own) < len(layer.parameters)
        count = sum(p.size for p in own)
        inits = ", ".join(f"{k}={v}" for k, v in layer.initializer_names().items()) or "-"
        dtypes = sorted({str(p.dtype) for p in layer.parameters.values()}) or ["-"]
        rows.append((f"{layer.name} ({type(layer).__name__})",
                     "?" if shape is None else str((None, *shape)),
                     f"{count:,}" + (" (+shared)" if shared else ""), inits,
                     ",".join(dtypes),
                     str(model.device) if layer.parameters else "-",
                     human_bytes(sum(p.nbytes for p in own)) if layer.parameters else "-"))
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(HEADERS)]
    line = "-" * (sum(widths) + 2 * (len(widths) - 1))
    fmt = "  ".join(f"{{:{'>' if i in (2, 6) else '<'}{w}}}" for i, w in enumerate(widths))
    parameters = model.parameters.values()
    trainable = [p for p in parameters if p.trainable]
    frozen = [p for p in parameters if not p.trainable]
    out = [f'Model: "{model.name}"  (seed {model.seed}, device {model.device}, '
           f"dtype {model.dtype})", line, fmt.format(*HEADERS), line]
    out += [fmt.format(*row) for row in rows]
    out.append(line)
    for label, group in (("Total", list(parameters)), ("Trainable", trainable),
                         ("Non-trainable", frozen)):
        out.append(f"{label} params: {sum(p.size for p in group):,} "
                   f"({human_bytes(sum(p.nbytes for p in group))})")
    return "\n".join(out)
