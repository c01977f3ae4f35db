"""The gpuinit command as a new user meets it, on a machine without CUDA: init-torch from
the package's own folder, on the automatic device, with scheme options; compile --ptx
without numba-cuda; bench's progress and table width; plot's seed; plain-text help; the
Numba cache folder that compile names."""

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gpuinit.bench as bench
import gpuinit.cli as cli
from gpuinit.cli import main

COMMANDS = ["info", "demo", "compile", "bench", "plot", "init-torch"]


# -- help -------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_is_plain_text_of_at_most_80_columns(command, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as info:
        main(["--help"] if command is None else [command, "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for markup in ("``", ":func:", ":mod:", ":class:", ":data:", ":meth:", "pyproject"):
        assert markup not in text, (command, markup)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    if command is not None:  # every command says what it does, beyond its usage line
        assert text.split("\n\n")[1].strip() and not text.split("\n\n")[1].startswith(
            ("positional", "options"))


# -- compile ----------------------------------------------------------------------------------
def test_compile_names_the_cache_folder_numba_uses(capsys):
    from gpuinit.kernels import route

    assert main(["compile", "--device", "cpu", "--dtypes", "float32"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    folder = route.compiled_loop(0).dispatcher._cache._cache_path
    assert first == f"device cpu; Numba cache: {folder}"
    assert "next to the package" not in first
    assert Path(folder).is_dir() and any(Path(folder).iterdir())
    if os.environ.get("NUMBA_CACHE_DIR"):
        assert folder.startswith(os.environ["NUMBA_CACHE_DIR"])


def test_without_numba_cache_dir_the_folder_is_the_kernels_pycache():
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "NUMBA_ENABLE_CUDASIM")}
    done = subprocess.run([sys.executable, "-c",
                           "from gpuinit.cli import _numba_cache_dir; print(_numba_cache_dir())"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    import gpuinit.kernels

    in_tree = Path(gpuinit.kernels.__file__).resolve().parent / "__pycache__"
    printed = Path(done.stdout.strip())
    if os.access(in_tree.parent, os.W_OK):
        assert printed == in_tree
    else:  # a read-only install: Numba's user-wide cache
        assert "numba" in str(printed)


@pytest.fixture
def no_numba_cuda(monkeypatch):
    """Make the numba-cuda distribution look uninstalled to importlib.metadata."""
    real = importlib.metadata.version

    def version(name):
        if name.replace("_", "-").lower() == "numba-cuda":
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)


def test_compile_ptx_without_numba_cuda_names_the_extra_to_install(no_numba_cuda, tmp_path,
                                                                    capsys):
    out = tmp_path / "ptx"
    assert main(["compile", "--ptx", "sm_90", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.startswith("gpuinit compile: error: compile --ptx needs numba-cuda")
    for extra in ('pip install "gpuinit[cuda13]"', '"gpuinit[cuda12]"', '"gpuinit[static]"'):
        assert extra in line
    assert "Signature mismatch" not in err
    assert not out.exists()


def test_compile_ptx_with_numba_cuda_passes_the_check():
    cli.check_numba_cuda()  # installed with the test extra: no error


# -- bench ------------------------------------------------------------------------------------
@pytest.fixture
def marked_timer(monkeypatch):
    """Replace the benchmark's timer by one call of the function and a fixed time, writing
    ``<run>`` to stderr so that the order of announcements and work can be read back."""
    def timer(dev):
        def run(fn, repeat):
            fn()
            print("<run>", file=sys.stderr)
            return 1e-3
        return run

    def paired_timer(dev):
        def pair(fn_a, fn_b, repeat):
            for fn in (fn_a, fn_b):
                fn()
                print("<run>", file=sys.stderr)
            return 1e-3, 1e-3
        return pair

    monkeypatch.setattr(bench, "timer", timer)
    monkeypatch.setattr(bench, "paired_timer", paired_timer)


def test_bench_announces_each_step_before_it_and_prints_80_columns(marked_timer, tmp_path,
                                                                    capsys):
    assert main(["bench", "--device", "cpu", "--sizes", "12", "--repeat", "1", "--out",
                 str(tmp_path)]) == 0
    captured = capsys.readouterr()
    err = captured.err.splitlines()
    n_cases = len(bench.DISTRIBUTIONS) * len(bench.DTYPES)  # every law in every dtype
    assert n_cases == 16
    assert err[0].startswith(f"gpuinit bench on cpu: {n_cases} cases")
    cases = [(d, t) for t in bench.DTYPES for d in bench.DISTRIBUTIONS]
    position = 1
    for k, (dist, dtype) in enumerate(cases, 1):
        # first call, preparing the dtype's compiled loop (for its first distribution,
        # with a line every 2 s while it lasts), timing: each announced (and flushed)
        # before it starts.
        first = err[position]
        assert first == (f"[{k}/{n_cases}] {dist} {dtype}: first call (cold: it may compile a "
                         "kernel or load it from the cache) ...")
        position += 1
        # (Not when the background preparation that the first call started has already
        # made it ready.)
        if err[position].startswith(f"[{k}/{n_cases}] {dtype}: preparing the compiled CPU loop"):
            assert dist == bench.DISTRIBUTIONS[0]
            position += 1
            while err[position].startswith(f"[{k}/{n_cases}] {dtype}: still preparing"):
                position += 1
        timing = err[position]
        assert timing.startswith(
            f"[{k}/{n_cases}] {dist} {dtype} 2^12: timing a fill and gpuinit (alternating), "
            "then ")
        assert timing.endswith("(1 run each) ...")
        position += 1
        runs = 0
        while err[position] == "<run>":  # the fill, gpuinit and each peer
            runs += 1
            position += 1
        assert runs >= 2
        assert re.fullmatch(rf"\[{k}/{n_cases}\] {dist} {dtype} 2\^12: [\d.]+ Gelem/s",
                            err[position])
        position += 1
    out = [line for line in captured.out.splitlines() if not line.startswith("wrote ")]
    assert all(len(line) <= 80 for line in out), max(out, key=len)  # the path aside
    assert any(line.startswith("truncated_normal  bfloat16") for line in out)
    # The markdown file keeps every column, with the peers' full names.
    [written] = tmp_path.glob("cpu-*.md")
    assert "numpy default_rng: 1.00x" in written.read_text()


def _rows(peers):
    return [{"dist": d, "dtype": t, "log2": 28, "gelem": 123.456, "bw_frac": 12.5,
             "extra": 0, "peers": dict(peers)}
            for d in bench.DISTRIBUTIONS for t in bench.DTYPES]


@pytest.mark.parametrize("peers", [
    {"numpy default_rng": 5.2, "torch": 0.25},
    {"cupy.random": 123.45, "cupy default_rng": None, "torch": 99.99},
    {},
], ids=["cpu", "gpu", "none"])
def test_the_printed_table_fits_80_columns(peers, capsys):
    bench.print_table(_rows(peers), "gpuinit sampling on NVIDIA H100 80GB HBM3")
    lines = capsys.readouterr().out.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert not any(line.endswith("...") for line in lines)  # nothing cut
    assert len(lines) == 3 + len(bench.DISTRIBUTIONS) * len(bench.DTYPES) + 2
    header = lines[1].split()
    assert header[:5] == ["distribution", "dtype", "n", "Gelem/s", "fill"]
    if "cupy default_rng" in peers:
        assert "refused" in lines[3] and "cupy rng" in lines[1]


# -- plot -------------------------------------------------------------------------------------
@pytest.fixture
def titles(monkeypatch):
    import gpuinit.plot

    seen = []

    def plot_samples(samples, law, path, *, title, bins=200):
        seen.append(title)
        return str(path)

    monkeypatch.setattr(gpuinit.plot, "plot_samples", plot_samples)
    return seen


@pytest.mark.parametrize("args,seed", [([], 0), (["--seed", "0"], 0), (["--seed", "5"], 5)])
def test_plot_titles_the_figure_with_the_seed_used(titles, args, seed, tmp_path, capsys):
    assert main(["plot", "he_normal", "--shape", "16,8", "-o", str(tmp_path / "f.png"),
                 "--device", "cpu", *args]) == 0
    [title] = titles
    assert f"seed={seed}" in title and "seed=None" not in title
    assert capsys.readouterr().out.rstrip().endswith(f"seed {seed}")


def test_plot_titles_an_initializers_own_seed(titles, tmp_path, capsys):
    config = '{"class_name": "HeNormal", "config": {"seed": 7}}'
    assert main(["plot", config, "--shape", "16,8", "-o", str(tmp_path / "f.png"),
                 "--device", "cpu", "--seed", "3"]) == 0
    assert "seed=7" in titles[0]
    assert capsys.readouterr().out.rstrip().endswith("seed 7")


# -- init-torch -------------------------------------------------------------------------------
MODELS = textwrap.dedent("""
    from torch import nn

    def mlp(width=8):
        return nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(),
                             nn.Linear(2 * width, width))
""")


@pytest.fixture
def package_folder(tmp_path, monkeypatch):
    """A project folder holding the package ``newcomer_pkg`` (not on sys.path), made the
    current directory."""
    pytest.importorskip("torch")
    package = tmp_path / "newcomer_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(MODELS)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    for name in ("newcomer_pkg", "newcomer_pkg.models"):
        sys.modules.pop(name, None)


def test_init_torch_imports_from_the_current_directory(package_folder, capsys):
    before = list(sys.path)
    assert str(package_folder) not in sys.path
    assert main(["init-torch", "newcomer_pkg.models:mlp", "--device", "cpu"]) == 0
    assert "newcomer_pkg.models:mlp: 4 tensors" in capsys.readouterr().out
    assert sys.path == before  # put first for the import only


def test_init_torch_console_script_runs_from_the_package_folder(package_folder):
    script = Path(sys.executable).with_name("gpuinit")
    if not script.exists():
        pytest.skip("the gpuinit console script is not installed next to python")
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_ENABLE_CUDASIM", "PYTHONPATH")}
    done = subprocess.run([str(script), "init-torch", "newcomer_pkg.models:mlp",
                           "--out", "mlp.safetensors"], cwd=package_folder, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "No module named" not in done.stderr
    assert "on cpu" in done.stdout  # --device auto, with no usable GPU here
    assert (package_folder / "mlp.safetensors").stat().st_size > 0


def test_init_torch_device_defaults_to_auto(package_folder, capsys, monkeypatch):
    torch = pytest.importorskip("torch")
    assert main(["init-torch", "newcomer_pkg.models:mlp"]) == 0
    expected = "cuda" if torch.cuda.is_available() and cli.cuda_available() else "cpu"
    assert f"on {expected}," in capsys.readouterr().out
    assert cli.resolve_torch_device("cpu") == "cpu"
    assert cli.resolve_torch_device("cuda:1") == "cuda:1"
    for torch_sees, gpuinit_can, device in [(True, True, "cuda"), (True, False, "cpu"),
                                            (False, True, "cpu"), (False, False, "cpu")]:
        monkeypatch.setattr(torch.cuda, "is_available", lambda v=torch_sees: v)
        monkeypatch.setattr(cli, "cuda_available", lambda v=gpuinit_can: v)
        assert cli.resolve_torch_device("auto") == device
        assert cli.resolve_torch_device("AUTO") == device


@pytest.mark.parametrize("items,options", [
    (["method=llama"], {"method": "llama"}),
    (["std=0.5", "use_mup=true", "num_layers=4", "embedding_std=null"],
     {"std": 0.5, "use_mup": True, "num_layers": 4, "embedding_std": None}),
    (['overrides={"*.bias": "ones"}'], {"overrides": {"*.bias": "ones"}}),
    (["name=a=b", 'quoted="0.5"', "empty="], {"name": "a=b", "quoted": "0.5", "empty": ""}),
    (None, {}),
])
def test_parse_scheme_options(items, options):
    assert cli.parse_scheme_options(items) == options


@pytest.mark.parametrize("item,message", [("method", "write KEY=VALUE"),
                                          ("=llama", "write KEY=VALUE")])
def test_a_scheme_option_without_a_key_is_a_usage_error(package_folder, item, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(["init-torch", "newcomer_pkg.models:mlp", "--scheme-option", item])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_scheme_option_given_twice_is_a_usage_error(package_folder, capsys):
    with pytest.raises(SystemExit) as info:
        main(["init-torch", "newcomer_pkg.models:mlp", "--scheme-option", "std=1",
              "--scheme-option", "std=2"])
    assert info.value.code == 2
    assert "'std' is given twice" in capsys.readouterr().err


def test_scheme_options_reach_the_scheme(package_folder, capsys):
    roles = json.dumps({"0.weight": "mlp_in", "2.weight": "mlp_out"})
    assert main(["init-torch", "newcomer_pkg.models:mlp", "--scheme", "megatron",
                 "--scheme-option", "std=0.5", "--scheme-option", "num_layers=2",
                 "--scheme-option", f"roles={roles}", "--describe"]) == 0
    table = capsys.readouterr().out
    assert "normal(mean=0, std=0.5)" in table  # the MLP input: std
    assert "normal(mean=0, std=0.25)" in table  # the output: std / sqrt(2 * 2 layers)
    assert main(["init-torch", "newcomer_pkg.models:mlp", "--scheme-option",
                 'overrides={"*.bias": "ones"}', "--describe"]) == 0
    assert "constant(1)" in capsys.readouterr().out


def test_an_unknown_scheme_option_exits_1_naming_the_valid_ones(package_folder, capsys):
    assert main(["init-torch", "newcomer_pkg.models:mlp", "--scheme", "megatron",
                 "--scheme-option", "sdt=0.5", "--describe"]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert "sdt" in line and "std" in line


def test_scheme_options_are_saved_with_the_weights(package_folder, capsys):
    pytest.importorskip("safetensors")
    from safetensors import safe_open

    out = package_folder / "m.safetensors"
    assert main(["init-torch", "newcomer_pkg.models:mlp", "--device", "cpu", "--out", str(out),
                 "--scheme-option", 'overrides={"*.bias": "ones"}']) == 0
    with safe_open(str(out), "np") as f:
        meta = f.metadata()
        bias = f.get_tensor("0.bias")
    assert meta["gpuinit_scheme"] == "torch"
    assert json.loads(meta["gpuinit_scheme_options"]) == {"overrides": {"*.bias": "ones"}}
    assert (bias == 1).all()


def test_init_torch_offers_every_named_scheme_that_needs_no_option():
    pytest.importorskip("torch")
    from gpuinit.cli import TORCH_SCHEMES
    from gpuinit.schemes import SCHEMES
    from gpuinit.schemes.registry import REQUIRED

    needs_none = [name for name, spec in SCHEMES.items()
                  if all(v is not REQUIRED for v in spec.defaults.values())]
    assert set(TORCH_SCHEMES) == set(needs_none)
