"""The gpuinit command: compile, bench, plot and init-torch, their errors and exit codes."""

import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gpuinit
from gpuinit.cli import main
from gpuinit.layers import ProgressBar

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", ["info", "demo", "compile", "bench", "plot", "init-torch"])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: gpuinit " + command in capsys.readouterr().out


def test_plot_writes_a_png_with_the_exact_law(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "he.png"
    assert main(["plot", "he_normal", "--shape", "256x64", "-o", str(out), "--device",
                 "cpu"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = capsys.readouterr().out
    assert "trunc_normal(" in report and "std 0.08839" in report  # √(2/256)


def test_plot_takes_a_json_config(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sparse.png"
    config = '{"class_name": "Sparse", "config": {"sparsity": 0.5}}'
    assert main(["plot", config, "--shape", "64,32", "-o", str(out), "--device", "cpu"]) == 0
    assert out.stat().st_size > 0


@pytest.mark.parametrize("args,message", [
    (["plot", "no_such_init", "--shape", "4,4"], "no_such_init"),
    (["plot", "identity", "--shape", "4,4"], "no elementwise law"),
    (["plot", "he_normal", "--shape", "4,-4"], "positive dimensions"),
    (["plot", "{bad json", "--shape", "4,4"], "not valid JSON"),
])
def test_plot_errors_exit_1_with_a_message_and_write_nothing(args, message, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main([*args, "-o", str(out), "--device", "cpu"]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", "he_normal", "-o", "x.png"])  # --shape is required
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--sizes", "twenty"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["compile", "--dtypes", "float32,int8"])
    assert exit_info.value.code == 2
    assert "--dtypes 'float32,int8': choose from" in capsys.readouterr().err


@pytest.mark.slow  # compiles every kernel (tens of seconds)
def test_compile_announces_each_kernel_then_its_seconds(capsys):
    assert main(["compile", "--device", "cpu", "--dtypes", "float32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device cpu")
    # "LABEL ..." then a dot every 2 s while it compiles, then " SECONDS s".
    parsed = [re.fullmatch(r"(.*?) \.\.\.+ (\d+\.\d+) s( \(.*\))?", line) for line in lines[1:]]
    assert all(parsed), lines
    assert [m.group(1) for m in parsed] == ["compiling float32 CPU loop (every distribution)"]
    # The float32 loop is ready in this process: it compiled or loaded it.
    from gpuinit.kernels import route

    assert route.compiled_loop(0).usable() and route.compiled_loop(0).dispatcher.signatures
    assert main(["compile", "--device", "tpu"]) == 1


def test_compile_lines_come_before_each_compile_and_say_when_nothing_compiled():
    from gpuinit.cli import first_call
    from gpuinit.devices import device

    stream = io.StringIO()

    def make():
        assert stream.getvalue() == "compiling something ..."  # written before the call
        return 1

    assert first_call("something", make, device("cpu"), stream) == (1, pytest.approx(0, abs=1))
    assert stream.getvalue().endswith(" s (nothing to compile: cached)\n")


def test_demo_prints_first_call_and_warm_times_apart(capsys):
    assert main(["demo", "--log2-size", "12", "--model", "none"]) == 0
    out = capsys.readouterr().out.splitlines()
    first = [line for line in out if line.startswith("first call ")]
    assert [line.split()[2:4] for line in first] == [
        [dist, dtype] for dist in ["uniform", "normal", "truncated_normal"]
        for dtype in ["float32", "float16"]]
    header = next(line for line in out if line.startswith("distribution"))
    assert header.split()[2:6] == ["first", "ms", "warm", "ms"]
    assert any(line.startswith("first ms: the first call") for line in out)
    rows = [line for line in out if line.startswith(("uniform(", "normal(", "truncated"))]
    assert len(rows) == 6
    for row in rows:
        first, warm = (float(v) for v in row.split()[-8:-6])  # before GB/s ... expected
        assert first > 0 and warm > 0
    # The last line says which route made the CPU's values.
    assert out[-1].startswith("CPU: ")


def test_bench_writes_to_a_working_folder_by_default_and_says_where(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--device", "cpu", "--sizes", "12", "--repeat", "1"]) == 0
    [written] = (tmp_path / "gpuinit-bench").glob("cpu-*.md")
    assert f"wrote {written}" in capsys.readouterr().out
    assert not (tmp_path / "benchmarks").exists()


def test_bench_prints_and_writes_the_table(tmp_path, capsys):
    assert main(["bench", "--device", "cpu", "--sizes", "12", "--repeat", "1", "--out",
                 str(tmp_path)]) == 0
    [written] = tmp_path.glob("cpu-*.md")
    text = written.read_text()
    for dist in ["uniform", "normal", "truncated_normal"]:
        for dtype in ["float32", "float16", "bfloat16"]:
            assert f"| {dist} | {dtype} | 2^12 |" in text
    assert "numpy default_rng:" in text  # the peer ratio column
    assert "truncated_normal" in capsys.readouterr().out


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "cli_models.py").write_text(textwrap.dedent("""
        from torch import nn

        def mlp(width=16):
            return nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(),
                                 nn.Linear(2 * width, width), nn.LayerNorm(width))

        def not_a_module():
            return 42

        def tied(vocab=10, width=4):
            embed, head = nn.Embedding(vocab, width), nn.Linear(width, vocab, bias=False)
            head.weight = embed.weight
            return nn.Sequential(embed, head)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "cli_models"
    sys.modules.pop("cli_models", None)


def test_init_torch_saves_the_model_materialized_by_gpuinit(factory_module, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    import gpuinit.torch as gt

    out = tmp_path / "mlp.safetensors"
    assert main(["init-torch", f"{factory_module}:mlp", "--device", "cpu", "--seed", "3",
                 "--kwargs", '{"width": 8}', "--out", str(out)]) == 0
    assert "saved to" in capsys.readouterr().out
    saved = safetensors_torch.load_file(str(out))
    from cli_models import mlp

    expected = gt.init_module(mlp(width=8), seed=3).state_dict()
    assert saved.keys() == expected.keys()
    for name, tensor in expected.items():
        assert torch.equal(saved[name], tensor), name


def test_init_torch_counts_a_tied_tensor_once(factory_module, capsys):
    pytest.importorskip("torch")
    assert main(["init-torch", f"{factory_module}:tied", "--device", "cpu"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "1 tensor (and 1 tied name), 40 values, 160 B" in summary, summary


@pytest.mark.parametrize("target,extra,message", [
    ("cli_models", [], "MODULE:FACTORY"),
    ("cli_models:nope", [], "nope"),
    ("cli_models:not_a_module", [], "not a torch.nn.Module"),
    ("no_such_module_xyz:f", [], "no_such_module_xyz"),
    ("cli_models:mlp", ["--kwargs", "[1]"], "JSON object"),
    ("cli_models:mlp", ["--kwargs", "{width: 8}"], "--kwargs is not valid JSON"),
])
def test_init_torch_errors_exit_1(factory_module, target, extra, message, tmp_path, capsys):
    pytest.importorskip("torch")
    out = tmp_path / "m.safetensors"
    assert main(["init-torch", target, "--device", "cpu", "--out", str(out), *extra]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_init_torch_on_cuda_without_it_exits_1(factory_module, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("checks the error raised without CUDA")
    assert main(["init-torch", f"{factory_module}:mlp", "--device", "cuda"]) == 1
    assert "no usable CUDA device" in capsys.readouterr().err


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"gpuinit {gpuinit.__version__}"
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"]  # one source: gpuinit.__version__
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "gpuinit.__version__"}


def test_bfloat16_support_is_a_base_dependency_imported_only_when_used():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    from packaging.requirements import Requirement  # pytest's own dependency

    deps = [Requirement(d) for d in project["dependencies"] if d.startswith("ml_dtypes")]
    assert deps and all(">=0.4" in str(d.specifier) for d in deps)
    # Every Python gets it (the markers only move the upper bound).
    assert any(d.marker is None or d.marker.evaluate() for d in deps)
    assert {str(d.marker) for d in deps} == {'python_version < "3.12"',
                                             'python_version >= "3.12"'}
    assert not any(d.startswith("ml_dtypes") for extra in project["optional-dependencies"].values()
                   for d in extra)
    code = ("import sys, gpuinit; assert 'ml_dtypes' not in sys.modules; "
            "gpuinit.random.uniform(4, seed=0, dtype='bfloat16', device='cpu'); "
            "assert 'ml_dtypes' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_writes_plain_lines_when_not_on_a_terminal():
    log = io.StringIO()
    bar = ProgressBar(width=10, stream=log, interval=0.0)
    for done in range(0, 101):
        bar(done, 100, f"layer_{done}/weight")
    lines = log.getvalue().splitlines(keepends=True)
    assert "\r" not in log.getvalue()
    assert len(lines) == 11  # 0%, 10%, ..., 100%: one line each
    assert lines[5].startswith("[#####.....]  50%") and lines[5].endswith("layer_50/weight\n")
    assert lines[-1].startswith("[##########] 100%")
    tty = _Terminal()
    bar = ProgressBar(width=10, stream=tty, interval=0.0)
    bar(50, 100, "a/weight")
    bar(100, 100, "b/bias")
    assert tty.getvalue().count("\r") == 2 and tty.getvalue().count("\n") == 1


def test_init_torch_progress_in_a_log_has_no_carriage_returns(factory_module, capsys):
    pytest.importorskip("torch")
    assert main(["init-torch", f"{factory_module}:mlp", "--device", "cpu"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "100%" in err


@pytest.mark.slow  # compiles every kernel (tens of seconds)
def test_compile_ptx_writes_every_kernel_and_an_index_without_a_gpu(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, "-m", "gpuinit.cli", "compile", "--ptx", "sm_90",
                           "--out", str(tmp_path), "--dtypes", "float32,float16"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    index = json.loads((tmp_path / "index.json").read_text())
    assert {(e["distribution"], e["dtype"]) for e in index} == {
        (d, t) for d in ("uniform", "normal", "truncated_normal", "laplace")
        for t in ("float32", "float16")}
    for entry in index:
        assert set(entry) == {"file", "distribution", "dtype", "seconds"}
        text = (tmp_path / entry["file"]).read_text()
        assert ".target sm_90" in text and ".entry" in text
        assert entry["seconds"] > 0
    assert "compiling uniform-float32 for sm_90" in done.stdout


def test_compile_ptx_refuses_an_unknown_architecture(capsys, tmp_path):
    assert main(["compile", "--ptx", "sm_9x", "--out", str(tmp_path / "x")]) == 1
    assert "not a CUDA architecture" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [(["compile", "--ptx", "sm_90"], "--ptx needs --out"),
                                           (["compile", "--out", "x"], "--out goes with --ptx")])
def test_compile_ptx_usage_errors_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err
