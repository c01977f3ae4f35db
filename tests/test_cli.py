"""The gpuinit command: compile, bench, plot and init-torch, their errors and exit codes."""

import sys
import textwrap

import pytest

from gpuinit.cli import main


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
    assert "truncated to" in report and "std 0.08839" in report  # √(2/256)


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


def test_compile_makes_every_distribution_of_the_dtypes_asked_for(capsys):
    assert main(["compile", "--device", "cpu", "--dtypes", "float32"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device cpu")
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1]) for r in rows] == [("uniform", "float32"), ("normal", "float32"),
                                             ("truncated_normal", "float32")]
    assert all(float(r[2]) >= 0 for r in rows)
    assert main(["compile", "--device", "tpu"]) == 1


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
