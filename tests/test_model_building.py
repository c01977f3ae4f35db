"""The GPT-style parameter stack, the progress bar, the demo command and the examples."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gpuinit import cli
from gpuinit.layers import PRESETS, GPTConfig, ProgressBar, build_gpt, path_stream

ROOT = Path(__file__).resolve().parents[1]


def test_gpt2_small_has_gpt2s_parameter_count():
    assert PRESETS["gpt2-small"].count() == 124_439_808  # GPT-2 small with a tied head
    assert 6.5e9 < PRESETS["7b"].count() < 7.0e9


def test_gpt_stack_follows_gpt2_initialization():
    config = GPTConfig(vocab_size=500, context=32, width=64, depth=3)
    seen = []
    params = build_gpt(config, seed=1, device="cpu", progress=lambda *a: seen.append(a))
    assert len(params) == 2 + 12 * 3 + 2 and seen[-1][0] == seen[-1][1]
    assert sum(p.size for p in params.values()) == config.count()
    embedding = params["token_embedding/weight"].numpy()
    assert embedding.shape == (500, 64) and abs(embedding.std() - 0.02) < 0.001
    residual = params["block_2/mlp/proj/weight"].numpy()
    assert residual.shape == (256, 64)
    assert abs(residual.std() - 0.02 / np.sqrt(6)) < 0.0005
    assert not params["block_0/attention/qkv/bias"].numpy().any()
    assert (params["final_norm/gamma"].numpy() == 1).all()
    again = build_gpt(config, seed=1, device="cpu")
    np.testing.assert_array_equal(again["block_1/mlp/fc/weight"].numpy(),
                                  params["block_1/mlp/fc/weight"].numpy())


def test_a_deeper_stack_keeps_the_block_0_weights_whose_law_is_unchanged():
    shallow = build_gpt(GPTConfig(vocab_size=100, context=8, width=16, depth=1), device="cpu")
    deep = build_gpt(GPTConfig(vocab_size=100, context=8, width=16, depth=2), device="cpu")
    # Same path, same law -> same values, whatever else is in the model.
    np.testing.assert_array_equal(shallow["block_0/attention/qkv/weight"].numpy(),
                                  deep["block_0/attention/qkv/weight"].numpy())
    assert path_stream("block_0/mlp/fc/weight") != path_stream("block_1/mlp/fc/weight")


def test_build_gpt_refuses_unknown_presets_and_bad_sizes():
    with pytest.raises(ValueError, match="unknown preset 'gpt5'"):
        build_gpt("gpt5", device="cpu")
    with pytest.raises(ValueError, match="width=0"):
        GPTConfig(width=0)


def test_progress_bar_draws_and_ends_its_line():
    out = io.StringIO()
    bar = ProgressBar(width=10, stream=out, interval=0.0)
    bar(50, 100, "a/weight")
    bar(100, 100, "b/bias")
    text = out.getvalue()
    assert "[#####.....]  50%" in text and "[##########] 100%" in text and text.endswith("\n")


def test_demo_command_builds_a_model(capsys):
    assert cli.main(["demo", "--log2-size", "12", "--model", "tiny"]) == 0
    text = capsys.readouterr().out
    assert "normal(0, 1)" in text and "168,192 parameters" in text and "28 tensors" in text


def test_huge_model_example_runs_without_a_host_copy_of_any_parameter():
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "huge_model.py"), "--preset",
                          "tiny", "--device", "cpu"], capture_output=True, text=True,
                         timeout=300, check=True)
    assert "168,192 parameters" in run.stdout
    assert "every parameter is a numpy.ndarray on cpu" in run.stdout


@pytest.mark.slow  # runs the example in a fresh process (seconds)
def test_variance_propagation_example_shows_he_keeping_relu_activations_alive(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "variance_propagation.py"),
                          "--png", str(tmp_path / "plot.png")], capture_output=True, text=True,
                         timeout=600, check=True)
    lines = run.stdout.splitlines()
    header = lines[1].split()
    last_mlp = lines[2 + 7].split()  # row of layer 50
    assert last_mlp[0] == "50"
    std = dict(zip(header[1:], map(float, last_mlp[1:]), strict=False))
    assert 0.1 < std["he_normal"] < 10 and std["glorot_uniform"] < 1e-4
