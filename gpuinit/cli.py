"""The ``gpuinit`` command: info, demo, compile, bench, plot and init-torch.

``gpuinit --version`` prints ``gpuinit.__version__``, the package's one version
(pyproject.toml reads it from there).

Exit codes: 0 success; 1 the work failed (an unknown initializer, a module that
cannot be imported, a device that is not there, too little memory, an error of the
model factory; one line ``gpuinit COMMAND: error: ...`` on stderr, never a
traceback); 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import math
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from . import random as gr
from .bench import DISTRIBUTIONS
from .devices import cuda_available, cuda_unavailable_reason, device
from .dtypes import FORMATS, float_format
from .layers import PRESETS, ProgressBar, build_gpt
from .layers.summary import human_bytes


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def info() -> str:
    """Return the report of ``gpuinit info``: versions, devices, why CUDA is (not) usable."""
    lines = [
        f"gpuinit     {__version__}",
        f"python      {platform.python_version()} ({platform.machine()})",
        f"numpy       {_version('numpy')}",
        f"numba       {_version('numba')}",
        f"numba-cuda  {_version('numba-cuda')}",
        f"cupy        {_version('cupy-cuda13x')} (cuda13x) / {_version('cupy-cuda12x')} (cuda12x)",
        f"ml_dtypes   {_version('ml_dtypes')}",
    ]
    if cuda_available():
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        lines.append(f"CUDA        usable: {name}, {props['totalGlobalMem'] / 2**30:.1f} GiB")
    else:
        lines.append(f"CUDA        not usable: {cuda_unavailable_reason()}")
    lines.append(f"default     device('auto') -> {device('auto')}")
    return "\n".join(lines)


def _synchronize(array) -> None:
    if hasattr(array, "device") and hasattr(array.device, "synchronize"):
        array.device.synchronize()


def _moments(array) -> tuple[float, float]:
    xp = sys.modules[type(array).__module__.split(".")[0]]
    sample = array.reshape(-1)[: 1 << 22].astype("float64")
    return float(xp.mean(sample)), float(xp.std(sample))


@contextlib.contextmanager
def _compile_recorders(cuda: bool):
    """Yield the recorders of Numba's compile events (CPU target, and the CUDA target when
    ``cuda``), or None when numba-cuda has no event module to record from: after the
    block, every recorder's ``buffer`` is empty when nothing was compiled (the code was
    in memory or in Numba's disk cache)."""
    from numba.core import event

    modules = [event]
    if cuda:
        try:
            from numba.cuda.core import event as cuda_event
        except ImportError:  # an older numba-cuda: whether it compiled is unknown
            yield None
            return
        modules.append(cuda_event)
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(m.install_recorder("numba:compile")) for m in modules]


def first_call(label: str, make, dev, stream: TextIO, verb: str = "compiling"
               ) -> tuple[Any, float]:
    """Run ``make()`` as the first call of a kernel and return (its result, the seconds it
    took, synchronized).

    Writes ``VERB LABEL ...`` to ``stream`` before the call, a dot every 2 seconds while
    it runs, and the seconds after it, saying when Numba compiled nothing (the kernel
    was in memory or in its disk cache), so a slow first call is never a mystery.
    """
    stream.write(f"{verb} {label} ...")
    stream.flush()
    with _compile_recorders(dev.is_cuda) as recorders, _dots(stream):
        start = time.perf_counter()
        result = make()
        _synchronize(result)
        seconds = time.perf_counter() - start
    compiled = recorders is None or any(r.buffer for r in recorders)
    cached = "" if compiled or verb != "compiling" else " (nothing to compile: cached)"
    stream.write(f" {seconds:.2f} s{cached}\n")
    stream.flush()
    return result, seconds


@contextlib.contextmanager
def _dots(stream: TextIO, every: float = 2.0):
    """Within the block, write a dot to ``stream`` every ``every`` seconds."""
    import threading

    done = threading.Event()

    def tick() -> None:
        while not done.wait(every):
            stream.write(".")
            stream.flush()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def _target_label(dev) -> str:
    return "CUDA kernel" if dev.is_cuda else "CPU loop"


def _loops_line(dtypes_used) -> str:
    """Return which CPU formats have their compiled loop ready in this process."""
    from .kernels import route
    from .kernels.preparation import loop_mode

    if loop_mode() == "numpy":
        return "CPU: every call ran on the NumPy target (GPUINIT_CPU_LOOPS=numpy)"
    ready = [d for d in dtypes_used
             if route.compiled_loop(float_format(d).fmt).usable()]
    waiting = [d for d in dtypes_used if d not in ready]
    return ("CPU: every call above ran the compiled loop" if not waiting else
            f"CPU: {', '.join(waiting)} ran on the NumPy target (same bits, nothing to "
            "compile) while the compiled loop was prepared in the background, in a separate "
            "process that leaves it in Numba's disk cache: run again for full speed"
            + (f"; {', '.join(ready)} ran the compiled loop" if ready else ""))


def default_demo_size(dev) -> int:
    """Return the demo's log2 elements per tensor on ``dev``: 2^24 on a GPU, 2^21 on the
    CPU (where a first run computes on the NumPy target)."""
    return 24 if dev.is_cuda else 21


def demo(log2_size: int | None = None, stream: TextIO | None = None) -> str:
    """Return the table of ``gpuinit demo``: a few large tensors on the best device, with
    the first call's time, a warm call's time and GB/s, and mean/std against the expected
    values.  Each first call is announced on ``stream`` (default stderr) as it runs.

    On the CPU a first call never waits for a compiler: the NumPy target makes the
    values while the compiled loop is prepared in the background (the last line says
    which calls ran which)."""
    stream = stream if stream is not None else sys.stderr
    dev = device("auto")
    n = 1 << (default_demo_size(dev) if log2_size is None else log2_size)
    shape = (n // 4096, 4096)
    a = math.sqrt(3.0)
    cases = [
        ("uniform", "uniform(-√3, √3)", lambda dt: gr.uniform(shape, -a, a, seed=1, dtype=dt),
         0.0, 1.0),
        ("normal", "normal(0, 1)", lambda dt: gr.normal(shape, seed=2, dtype=dt), 0.0, 1.0),
        ("truncated_normal", "truncated_normal(±2σ)",
         lambda dt: gr.truncated_normal(shape, seed=3, dtype=dt), 0.0, 0.8796256610342398),
    ]
    dtypes_used = ["float32", "float16"]
    rows = [f"device {dev}; shape {shape}",
            ("first ms: the first call in this process, including compiling its kernel (or "
             "loading it from Numba's disk cache: see the lines above)") if dev.is_cuda else
            "first ms: the first call in this process (it compiles nothing: see the last line)",
            "warm ms: the best of 3 later calls; GB/s from warm ms",
            f"{'distribution':24} {'dtype':8} {'first ms':>9} {'warm ms':>9} {'GB/s':>7} "
            f"{'mean':>8} {'std':>7} {'expected':>15}"]
    for name, label, make, mean, std in cases:
        for dtype in dtypes_used:
            x, first = first_call(f"{name} {dtype} {_target_label(dev)}",
                                  lambda make=make, dtype=dtype: make(dtype), dev, stream,
                                  verb="compiling" if dev.is_cuda else "first call")
            warm = math.inf
            for _ in range(3):
                start = time.perf_counter()
                x = make(dtype)
                _synchronize(x)
                warm = min(warm, time.perf_counter() - start)
            m, s = _moments(x)
            rows.append(f"{label:24} {dtype:8} {first * 1e3:9.2f} {warm * 1e3:9.2f} "
                        f"{x.nbytes / warm / 1e9:7.2f} {m:8.4f} {s:7.4f} "
                        f"{f'{mean:.1f} / {std:.4f}':>15}")
    if not dev.is_cuda:
        rows.append(_loops_line(dtypes_used))
    return "\n".join(rows)


KERNEL_DTYPES = tuple(FORMATS)  # float32, float64, float16, bfloat16


def compile_kernels(dev_spec: str = "auto", dtypes=KERNEL_DTYPES,
                    stream: TextIO | None = None) -> list[tuple[str, float]]:
    """Compile (or load from Numba's on-disk cache) every fill kernel of the dtypes on the
    device, writing ``compiling LABEL ... SECONDS s`` to ``stream`` (default stdout) as it
    goes; returns the (label, seconds) of each.

    On the CPU that is one loop per dtype, shared by every distribution; each takes
    tens of seconds to compile and is then cached on disk.  (A process never waits
    for it: the NumPy target serves until it is ready.)  Running this once, say while
    building a container image, makes every later process start at full speed.  On
    CUDA each (distribution, dtype) has its own kernel.
    """
    stream = stream if stream is not None else sys.stdout
    dev = device(dev_spec)
    stream.write(f"device {dev}; Numba cache: {_numba_cache_dir()}\n")
    target = _target_label(dev)
    steps = []
    for dtype in dtypes:
        if dev.is_cuda:  # one kernel per (distribution, dtype)
            steps += [(f"{name} {dtype} {target}", name, dtype, 8) for name in DISTRIBUTIONS]
        else:  # one loop per dtype, for every distribution
            steps.append((f"{dtype} {target} (every distribution)", None, dtype, 0))
    done = []
    for label, name, dtype, size in steps:
        def make(name=name, dtype=dtype, size=size):
            if name is None:
                return _prepare_cpu_loop(dtype)
            return getattr(gr, name)(size, seed=0, dtype=dtype, device=dev)

        _, seconds = first_call(label, make, dev, stream)
        done.append((label, seconds))
    return done


def _prepare_cpu_loop(dtype: str) -> None:
    """Load or compile the compiled CPU loop of ``dtype`` in this process (the caller
    shows progress); returns None."""
    from .bench import prepare_cpu_loop

    prepare_cpu_loop(dtype, say=lambda text: None)


def _numba_cache_dir() -> str:
    """Return the folder Numba caches gpuinit's compiled loops in: NUMBA_CACHE_DIR's
    subfolder when it is set, else ``gpuinit/kernels/__pycache__`` (or Numba's user-wide
    cache when that folder cannot be written), as Numba itself resolves it."""
    try:
        from .kernels import route

        return str(route.compiled_loop(0).dispatcher._cache._cache_path)
    except Exception:  # an internal numba API changed: the documented locations
        from numba.core import config

        from . import kernels

        if config.CACHE_DIR:
            return str(config.CACHE_DIR)
        return str(Path(kernels.__file__).resolve().parent / "__pycache__")


def model_demo(preset: str, dtype: str = "float32", progress=None,
               stream: TextIO | None = None) -> str:
    """Return the report of building the GPT-style parameter stack ``preset`` on the best
    device: tensors, parameters, bytes, time and GB/s (CUDA kernels compiled beforehand,
    as announced on ``stream``, default stderr; on the CPU whatever route is ready)."""
    stream = stream if stream is not None else sys.stderr
    dev = device("auto")
    if dev.is_cuda:  # GPT-2's weights are normal: warm the kernel.
        first_call(f"normal {dtype} {_target_label(dev)}",
                   lambda: gr.normal(8, seed=0, dtype=dtype, device=dev), dev, stream)
    start = time.perf_counter()
    parameters = build_gpt(preset, seed=0, device=dev, dtype=dtype, progress=progress)
    for p in parameters.values():
        _synchronize(p.data)
    elapsed = time.perf_counter() - start
    nbytes = sum(p.nbytes for p in parameters.values())
    count = sum(p.size for p in parameters.values())
    return (f"model {preset} {PRESETS[preset]}\n"
            f"device {dev}, {dtype}: {len(parameters)} tensors, {count:,} parameters, "
            f"{human_bytes(nbytes)} in {elapsed:.3f} s ({nbytes / elapsed / 1e9:.2f} GB/s), "
            f"each made on the device")


def parse_shape(text: str) -> tuple[int, ...]:
    """Return the shape written as "256,128" or "256x128"; ValueError otherwise."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts if p.strip())
    except ValueError:
        raise ValueError(f"--shape {text!r}: write dimensions as 256,128 or 256x128") from None
    if not shape or min(shape) < 1:
        raise ValueError(f"--shape {text!r}: give one or more positive dimensions")
    return shape


# What ``gpuinit compile --ptx`` needs, and where it comes from.
PTX_EXTRAS = ('pip install "gpuinit[cuda13]" (CUDA 13 drivers and toolkits), '
              '"gpuinit[cuda12]" (CUDA 12), or "gpuinit[static]" (NVVM with ptxas and '
              'cuobjdump, no GPU needed)')


def check_numba_cuda() -> None:
    """Raise ImportError saying which extra to install when the numba-cuda distribution is
    missing: Numba's own deprecated ``numba.cuda`` would otherwise be imported and fail
    with a confusing signature error."""
    try:
        metadata.version("numba-cuda")
    except metadata.PackageNotFoundError:
        raise ImportError("compile --ptx needs numba-cuda (the CUDA target of Numba, with "
                          "NVVM from pip), which is not installed; Numba's bundled "
                          f"numba.cuda cannot compile gpuinit's kernels: {PTX_EXTRAS}") from None


def parse_initializer(text: str):
    """Return the initializer of a string id or a JSON config ('{"class_name": ...}')."""
    import json

    from .initializers import get

    if text.lstrip().startswith("{"):
        try:
            text = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"INIT is not valid JSON: {exc}") from None
    return get(text)


# Where ``gpuinit bench`` writes without --out: a folder of the current directory, never
# the committed benchmarks/results/ of a checkout.
BENCH_DIR = "gpuinit-bench"


def bench(dev_spec: str, sizes: list[int] | None, repeat: int, out: str | None = None) -> str:
    """Run the sampling benchmark on ``dev_spec``, announcing each step on stderr as it
    starts, print its table (at most 80 columns) and write the full table to
    ``out/<device>.md`` (``out`` defaults to ``./gpuinit-bench``); returns the absolute
    path written."""
    from . import bench as suite

    out = Path(out if out is not None else BENCH_DIR)
    dev = device(dev_spec)
    sizes = sizes or suite.default_sizes(dev)
    total = len(sizes) * len(suite.DISTRIBUTIONS) * len(suite.DTYPES)
    count = 0

    def progress(text):  # before each compile or timing step: no silent minutes
        print(f"[{count + 1}/{total}] {text} ...", file=sys.stderr, flush=True)

    def report(row):
        nonlocal count
        count += 1
        print(f"[{count}/{total}] {row['dist']} {row['dtype']} 2^{row['log2']}: "
              f"{row['gelem']:.3f} Gelem/s", file=sys.stderr, flush=True)

    print(f"gpuinit bench on {dev}: {total} cases ({len(sizes)} sizes x "
          f"{len(suite.DISTRIBUTIONS)} distributions x {len(suite.DTYPES)} dtypes), "
          f"median of {repeat} runs", file=sys.stderr, flush=True)
    rows_done, cold = suite.sampling_rows(dev, sizes, repeat, report=report,
                                          progress=progress)
    suite.print_table(rows_done, f"gpuinit sampling on {suite.device_label(dev)}")
    path = suite.write_results(out, suite.device_label(dev),
                               suite.sampling_markdown(dev, rows_done, cold, repeat))
    return str(path.resolve())


def _refuse_complex(dtype: str) -> None:
    """Raise ValueError naming --dtype when ``dtype`` is a complex dtype: the laws are laws
    of real values, and plotting the real parts against them would mislead."""
    import numpy as np

    try:
        kind = np.dtype(dtype).kind
    except TypeError:  # bfloat16 and names NumPy does not know: the sampler decides
        return
    if kind == "c":
        raise ValueError(f"--dtype {dtype}: plot draws the law of real values; complex "
                         "dtypes are not supported (use float32 or float64)")


def plot(init_text: str, shape: tuple[int, ...], out: str, *, seed: int, dtype: str,
         dev_spec: str, bins: int) -> str:
    """Sample ``init`` at ``shape`` on the device with ``seed`` (the command's default 0
    makes the same figure every run), draw the histogram over the exact density to
    ``out`` (``out.png`` when ``out`` has no extension); returns a one-line summary
    naming the file written.  The dtype and ``out`` are checked before anything is
    sampled: a complex dtype is refused (ValueError), as is an ``out`` that is a folder
    (IsADirectoryError) or lies in a folder that does not exist (FileNotFoundError)."""
    from .plot import law_of, output_path, plot_samples

    _refuse_complex(dtype)
    target = output_path(out)
    init = parse_initializer(init_text)
    law = law_of(init, shape)  # before sampling: initializers without a law fail fast
    samples = init(shape, dtype=dtype, device=dev_spec, seed=seed)
    host = samples.get() if hasattr(samples, "get") else samples
    own = getattr(init, "seed", None)  # an initializer's own seed wins over seed=
    used = own if isinstance(own, int) else seed
    label = repr(init).replace("seed=None", f"seed={used}")
    written = plot_samples(host, law, target, title=f"{label} {shape} {dtype}", bins=bins)
    return f"wrote {written}: {law.name}, mean {law.mean:.4g}, std {law.std:.4g}, seed {used}"


# The named schemes that need no options (gpuinit.schemes; not imported here, which needs torch).
TORCH_SCHEMES = ["torch", "gpt2", "llama", "hf", "megatron", "olmo", "olmo_core", "neox",
                 "deepnet", "t-fixup", "torchtitan", "litgpt", "torchtune"]


# The files init-torch writes, by the extension of --out.
TORCH_OUT_SUFFIXES = (".safetensors", ".npz")


def check_torch_out(out: str) -> str:
    """Return the format (a suffix of :data:`TORCH_OUT_SUFFIXES`) of ``init-torch --out``,
    checked before any work: ValueError for another extension, IsADirectoryError when
    ``out`` is a folder, FileNotFoundError when its folder does not exist,
    NotADirectoryError when that is not a folder, PermissionError when it cannot be
    written into; each names ``out``."""
    text = os.fspath(out)
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        raise IsADirectoryError(errno.EISDIR, "--out names a folder; give the file to "
                                "write, e.g. model.safetensors", text)
    suffix = next((s for s in TORCH_OUT_SUFFIXES if text.endswith(s)), None)
    if suffix is None:
        raise ValueError(f"--out {text}: init-torch writes {' or '.join(TORCH_OUT_SUFFIXES)} "
                         "files, picked by the extension")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.exists(folder):
        raise FileNotFoundError(errno.ENOENT, f"--out: the folder {folder} does not exist",
                                text)
    if not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, f"--out: {folder} is not a folder", text)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"--out: cannot write into {folder}", text)
    return suffix


def parse_scheme_options(items: list[str] | None) -> dict[str, Any]:
    """Return the options of ``--scheme-option KEY=VALUE`` arguments: each VALUE is read
    as JSON when it is JSON (true, false, null, numbers, lists, objects, "quoted"
    strings), else kept as the string written.  ValueError for an item without
    ``KEY=`` and for a key given twice."""
    import json

    options: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--scheme-option {item!r}: write KEY=VALUE, e.g. std=0.02 or "
                             "method=llama")
        if key in options:
            raise ValueError(f"--scheme-option: {key!r} is given twice")
        try:
            options[key] = json.loads(text)
        except json.JSONDecodeError:
            options[key] = text
    return options


def resolve_torch_device(dev_spec: str) -> str:
    """Return the torch device of ``init-torch --device``: "auto" is "cuda" when torch sees
    a GPU and gpuinit can use it (:func:`gpuinit.cuda_available`), else "cpu"; any other
    name is returned as given."""
    if dev_spec.strip().lower() != "auto":
        return dev_spec
    import torch

    return "cuda" if torch.cuda.is_available() and cuda_available() else "cpu"


@contextlib.contextmanager
def _current_directory_importable():
    """Put the current directory first on sys.path for the block, as ``python -m`` does, so
    that ``mypkg.models:gpt`` imports from where the command runs; restored after."""
    cwd = os.getcwd()
    sys.path.insert(0, cwd)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(cwd)  # the first occurrence: the one inserted


def init_torch(target: str, *, dev_spec: str, seed: int, scheme: str, out: str | None,
               kwargs_json: str | None, describe: bool = False,
               scheme_options: dict[str, Any] | None = None) -> str:
    """Build ``MODULE:FACTORY`` on the meta device, materialize it on ``dev_spec`` with
    gpuinit and save it to ``out`` (safetensors, or NumPy's ``.npz`` when ``out`` ends in
    ``.npz``); returns the report.  ``out`` is checked (:func:`check_torch_out`) before
    anything is imported or built.  MODULE is imported with the current directory first
    on sys.path, as ``python -m`` would.  ``dev_spec`` "auto" is resolved by
    :func:`resolve_torch_device`.  ``scheme_options`` (when not empty) makes the scheme
    ``(scheme, scheme_options)``.  With ``describe`` it returns the plan's table
    (:func:`gpuinit.torch.describe`) instead and allocates, initializes and saves
    nothing."""
    import importlib
    import json

    out_format = check_torch_out(out) if out and not describe else None
    try:
        import torch
    except ImportError as exc:
        raise ImportError("init-torch needs torch: pip install 'gpuinit[torch]'") from exc
    from .layers import npz, safetensors
    from .torch import materialize

    module_name, _, factory_name = target.partition(":")
    if not module_name or not factory_name:
        raise ValueError(f"{target!r}: write the factory as MODULE:FACTORY, e.g. "
                         "torchvision.models:resnet50")
    try:
        kwargs = json.loads(kwargs_json) if kwargs_json else {}
    except json.JSONDecodeError as exc:
        raise ValueError(f"--kwargs is not valid JSON: {exc}") from None
    if not isinstance(kwargs, dict):
        raise ValueError("--kwargs must be a JSON object")
    plan = (scheme, dict(scheme_options)) if scheme_options else scheme
    with _current_directory_importable():
        factory = importlib.import_module(module_name)
        for part in factory_name.split("."):
            factory = getattr(factory, part)
        with torch.device("meta"):
            model = factory(**kwargs)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{target} returned {type(model).__name__}, not a torch.nn.Module")
    if describe:
        from .torch import describe as describe_plan

        return str(describe_plan(model, scheme=plan))
    dev_spec = resolve_torch_device(dev_spec)
    start = time.perf_counter()
    materialize(model, dev_spec, seed=seed, scheme=plan, progress=ProgressBar())
    if dev_spec.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    state = model.state_dict()
    # A tied tensor is one tensor under two names (as the progress bar counts it).
    distinct = {(t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape),
                 tuple(t.stride()), t.dtype): t for t in state.values()}.values()
    nbytes = sum(t.numel() * t.element_size() for t in distinct)
    tied = len(state) - len(distinct)
    counted = f"{len(distinct)} tensor{'' if len(distinct) == 1 else 's'}"
    if tied:
        counted += f" (and {tied} tied name{'' if tied == 1 else 's'})"
    report = (f"{target}: {counted}, {sum(t.numel() for t in distinct):,} values, "
              f"{human_bytes(nbytes)} on {dev_spec}, initialized in {elapsed:.3f} s")
    if out:
        entries = [(name, tuple(t.shape), str(t.dtype).removeprefix("torch."),
                    lambda t=t: _host_array(t)) for name, t in state.items()]
        if out_format == ".npz":
            npz.write(out, entries)
        else:
            header = {"format": "pt", "gpuinit_seed": str(seed), "gpuinit_scheme": scheme}
            if scheme_options:
                header["gpuinit_scheme_options"] = json.dumps(scheme_options, sort_keys=True)
            safetensors.write(out, entries, header)
        report += f"; saved to {out}"
    return report


def _host_array(tensor):
    """Return the tensor's values as a NumPy array (bfloat16 through its bits)."""
    from .inplace import numpy_view

    return numpy_view(tensor.detach().to("cpu").contiguous())


# What --help prints: plain text (the module's docstring is for readers of the code).
DESCRIPTION = """\
gpuinit: neural-network initializers that allocate and fill on the GPU, or on
the CPU without one. Run "gpuinit COMMAND --help" for a command's options.

Exit codes: 0 success; 1 the work failed (one line "gpuinit COMMAND: error:
..." on stderr: an unknown initializer, a module that cannot be imported, a
device that is not there, too little memory); 2 bad command-line usage."""

COMMAND_HELP = {
    "info": ("versions, devices and why CUDA is or is not usable",
             "Print the versions of gpuinit and its dependencies, the devices, and why "
             "CUDA is or is not usable."),
    "demo": ("initialize large tensors and time them",
             "Make large uniform, normal and truncated normal tensors on the best device, "
             "timing the first call (which compiles its kernel) and warm calls, then build "
             "a GPT-style parameter stack."),
    "bench": ("time the sampling kernels against the installed peers; write a table",
              "Time gpuinit's sampling against NumPy, torch and CuPy (those installed), "
              "print a table that fits 80 columns and write the full table as markdown. "
              "A line on stderr announces each step; the defaults take minutes on a CPU "
              "(use --sizes 20 --repeat 3 for a quick look)."),
    "plot": ("histogram of an initializer's samples over its exact density (PNG)",
             "Sample an initializer and draw the histogram over its exact density "
             "(needs matplotlib: pip install \"gpuinit[plot]\")."),
    "compile": ("compile and cache every fill kernel now, not on first use",
                "Compile every fill kernel now and cache it on disk (the folder is "
                "printed), so that later processes do not pay for it; with --ptx, "
                "compile the CUDA kernels to PTX files without a GPU (needs "
                "numba-cuda: pip install \"gpuinit[cuda13]\", \"gpuinit[cuda12]\" or "
                "\"gpuinit[static]\")."),
    "init-torch": ("build a torch model on the meta device, materialize it with gpuinit, "
                   "save it as safetensors",
                   "Build MODULE:FACTORY on torch's meta device (no memory), allocate and "
                   "initialize it with gpuinit on the device, and save it. MODULE is "
                   "imported with the current directory on the import path, as "
                   "python -m does. Needs torch."),
}


def _add_command(commands, name: str) -> argparse.ArgumentParser:
    short, long = COMMAND_HELP[name]
    return commands.add_parser(name, help=short, description=long)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gpuinit`` console script."""
    parser = argparse.ArgumentParser(prog="gpuinit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gpuinit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _add_command(commands, "info")
    demo_parser = _add_command(commands, "demo")
    demo_parser.add_argument("--log2-size", type=int, default=None,
                             help="elements per tensor as a power of two (default 24 on "
                                  "a GPU, 21 on the CPU)")
    demo_parser.add_argument("--model", default=None,
                             help="GPT-style parameter stack to build: tiny, gpt2-small, "
                                  "gpt2-medium, gpt2-xl, 7b, or none (default gpt2-small "
                                  "on a GPU, tiny on the CPU)")
    bench_parser = _add_command(commands, "bench")
    bench_parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    bench_parser.add_argument("--sizes", default=None,
                              help="log2 sizes, e.g. 20,25 (default 20,25 CPU; 20-28 GPU)")
    bench_parser.add_argument("--repeat", type=int, default=7, help="timed runs (median)")
    bench_parser.add_argument("--out", default=None,
                              help=f"folder of the markdown results (default ./{BENCH_DIR}; "
                                   "benchmarks/results holds the committed tables)")
    plot_parser = _add_command(commands, "plot")
    plot_parser.add_argument("init", metavar="INIT",
                             help='an initializer id ("he_normal") or a JSON config')
    plot_parser.add_argument("--shape", required=True, help="e.g. 784,256 (Keras layout)")
    plot_parser.add_argument("-o", "--out", required=True,
                             help="the PNG to write (.png is appended to a name without "
                                  "an extension; the report names the file written)")
    plot_parser.add_argument("--seed", type=int, default=0,
                             help="seed of the samples (default 0: the same figure every run)")
    plot_parser.add_argument("--dtype", default="float32", help="default float32")
    plot_parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto "
                             "(default: CUDA when usable, else cpu)")
    plot_parser.add_argument("--bins", type=int, default=200, help="default 200")
    compile_parser = _add_command(commands, "compile")
    compile_parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    compile_parser.add_argument("--dtypes", default=",".join(KERNEL_DTYPES),
                                help="comma-separated (default: all four float dtypes)")
    compile_parser.add_argument("--ptx", metavar="ARCH", default=None,
                                help="instead, compile every CUDA kernel to PTX for ARCH "
                                     "(e.g. sm_90) with no GPU, into --out")
    compile_parser.add_argument("--out", default=None,
                                help="with --ptx: the folder for <name>.ptx and index.json")
    torch_parser = _add_command(commands, "init-torch")
    torch_parser.add_argument("target", metavar="MODULE:FACTORY",
                              help="a callable returning an nn.Module, e.g. mypkg.models:gpt")
    torch_parser.add_argument("--device", default="auto",
                              help="auto (default: cuda when torch sees a GPU and gpuinit "
                                   "can use it, else cpu), cpu, cuda or cuda:1")
    torch_parser.add_argument("--seed", type=int, default=0, help="default 0")
    torch_parser.add_argument("--scheme", default="torch", choices=TORCH_SCHEMES,
                              metavar="SCHEME",
                              help="initialization scheme: " + ", ".join(TORCH_SCHEMES) +
                                   " (default torch; see the README's Schemes)")
    torch_parser.add_argument("--scheme-option", action="append", default=None,
                              metavar="KEY=VALUE",
                              help="an option of the scheme (repeat it for several), "
                                   "e.g. method=llama or std=0.02; VALUE is read as JSON "
                                   'when it is JSON (true, 0.5, {"*.bias": "zeros"}), else '
                                   "as a string")
    torch_parser.add_argument("--describe", action="store_true",
                              help="print the plan (tensor, shape, role, law, std, bounds) and "
                                   "exit without initializing anything")
    torch_parser.add_argument("--kwargs", default=None, help="JSON object of factory arguments")
    torch_parser.add_argument("--out", default=None,
                              help="the .safetensors (or .npz) file to write; checked "
                                   "before the model is built")
    args = parser.parse_args(argv)
    try:
        return _run(parser, args)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback; Ctrl-C goes on
        print(f"gpuinit {args.command}: error: {error_line(exc)}", file=sys.stderr)
        return 1


# Errors whose message says it all; any other kind is named before its message
# ("LookupError: no model 'x'"), so that a bare KeyError's "'x'" still reads.
_PLAIN_ERRORS = (ValueError, TypeError, ImportError, AttributeError, OSError, RuntimeError,
                 MemoryError)


def error_line(exc: BaseException) -> str:
    """Return the one line ``gpuinit`` prints for ``exc``: its message with every run of
    whitespace (newlines of HDF5 or CUDA messages included) made one space, preceded by
    the exception's class name unless it is a common kind with a message."""
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError) or not isinstance(exc, _PLAIN_ERRORS) or not text:
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command == "info":
        print(info())
    elif args.command == "demo":
        if args.log2_size is not None and not 12 <= args.log2_size <= 34:
            parser.error("--log2-size must lie in [12, 34]")
        if args.model is not None and args.model != "none" and args.model not in PRESETS:
            parser.error(f"--model must be none or one of {', '.join(PRESETS)}")
        print(demo(args.log2_size, stream=sys.stdout))
        model = args.model or ("gpt2-small" if device("auto").is_cuda else "tiny")
        if model != "none":
            print()
            print(model_demo(model, progress=ProgressBar(), stream=sys.stdout))
    elif args.command == "bench":
        if args.repeat < 1:
            parser.error("--repeat must be at least 1")
        try:
            sizes = [int(v) for v in args.sizes.split(",")] if args.sizes else None
        except ValueError:
            parser.error(f"--sizes {args.sizes!r}: give log2 sizes such as 20,25")
        if sizes and not all(10 <= v <= 34 for v in sizes):
            parser.error("--sizes must lie in [10, 34]")
        print(f"wrote {bench(args.device, sizes, args.repeat, args.out)}")
    elif args.command == "compile":
        dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
        unknown = [d for d in dtypes if d not in KERNEL_DTYPES]
        if unknown or not dtypes:
            parser.error(f"--dtypes {args.dtypes!r}: choose from {', '.join(KERNEL_DTYPES)}")
        if args.ptx is None:
            if args.out is not None:
                parser.error("--out goes with --ptx")
            compile_kernels(args.device, dtypes, stream=sys.stdout)
        else:
            if args.out is None:
                parser.error("--ptx needs --out DIR")
            check_numba_cuda()
            from . import ptx

            index = ptx.export_ptx(args.ptx, args.out, dtypes=dtypes,
                                   report=lambda line: print(line, flush=True))
            print(f"wrote {len(index)} kernels and index.json to {args.out}")
    elif args.command == "plot":
        if args.bins < 1:
            parser.error("--bins must be at least 1")
        print(plot(args.init, parse_shape(args.shape), args.out, seed=args.seed,
                   dtype=args.dtype, dev_spec=args.device, bins=args.bins))
    else:
        try:
            options = parse_scheme_options(args.scheme_option)
        except ValueError as exc:
            parser.error(str(exc))
        print(init_torch(args.target, dev_spec=args.device, seed=args.seed, scheme=args.scheme,
                         out=args.out, kwargs_json=args.kwargs, describe=args.describe,
                         scheme_options=options))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
