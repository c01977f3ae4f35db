"""scheme="olmo_core" reads the init options off an OLMo-core model, checked against
OLMo-core's own ``Transformer.init_weights``.

Marked ``peers`` and skipped without ``olmo_core`` (checked with ai2-olmo-core 3.0.0).
Tiny models are built from ``TransformerConfig.llama_like`` with non-default init
options (``init_method``, ``init_std``, ``embedding_init_std``, ``embed_scale``) and
initialized by OLMo-core over 4 seeds; the same config built on meta is materialized
by gpuinit with ``scheme="olmo_core"`` and no options at all, so every law follows
from what the scheme reads off the model (src/olmo_core/nn/transformer/model.py
``Transformer.init_weights``, init.py ``InitMethod``).  The comparison is the one of
tests/test_codebase_schemes_olmo_core.py: per tensor, pooled over the seeds, mean and
std agree within 6 standard errors, both lie inside gpuinit's bounds, constants are
equal, and a two-sample KS test has p > 1e-4.
"""

import math

import pytest

torch = pytest.importorskip("torch")
from gpuinit.torch import describe, materialize  # noqa: E402

from .test_codebase_schemes_olmo_core import (  # noqa: E402
    D_MODEL,
    N_LAYERS,
    _config,
    _expected_std,
    _olmo_core,
    _theirs,
)
from .test_codebase_schemes_titan_litgpt import SEEDS, _agree, _tensors  # noqa: E402

pytestmark = pytest.mark.peers


def _rows(model, scheme="olmo_core"):
    return {row["tensor"]: row for row in describe(model, scheme=scheme)}


def _compare_read(method, **config):
    """Compare OLMo-core's init of a model built with ``config`` against
    ``scheme="olmo_core"`` with no options; return {name: result}."""
    plan = _rows(_config(method, **config).build(init_device="meta"))
    ours = [_tensors(materialize(_config(method, **config).build(init_device="meta"), "cpu",
                                 seed=s, scheme="olmo_core")) for s in SEEDS]
    theirs = [_tensors(_theirs(method, s, **config)) for s in SEEDS]
    assert set(ours[0]) == set(theirs[0]) == set(plan)
    return {name: _agree(name, [o[name] for o in ours], [t[name] for t in theirs],
                         plan[name]["bounds"]) for name in theirs[0]}


@pytest.mark.parametrize(("method", "config"), [
    ("normal", {"init_std": 0.01, "embedding_init_std": 0.05}),
    ("llama", {"init_std": 0.04}),
    ("llama_depth", {"init_std": 0.03}),
    ("fan_in", {"embed_scale": 8.0}),
], ids=["normal-init_std-embedding_init_std", "llama-init_std", "llama_depth-init_std",
        "fan_in-embed_scale"])
def test_olmo_core_reads_init_options_off_the_model(method, config):
    results = _compare_read(method, **config)
    std = config.get("init_std", 0.02)
    for name, r in results.items():
        expected = _expected_std(name, method, std=std)
        if expected is None:
            assert r["constant"] == 1.0, r
            continue
        if name == "embeddings.weight":
            if method == "normal":
                expected = config["embedding_init_std"]
            elif method == "fan_in":
                expected = 1 / config["embed_scale"]
        truncated = name != "embeddings.weight" or method == "normal"
        sigma = expected * (0.9866 if truncated else 1.0)  # N(0, s²) cut at ±3s: 0.9866 s
        assert r["theirs"] == pytest.approx(sigma, rel=0.15), r


def test_olmo_core_model_options_equal_the_same_options_given():
    """Read off the model, the plan is the one the same options give explicitly."""
    meta = _config("llama_depth", init_std=0.03).build(init_device="meta")
    given = {"method": "llama_depth", "std": 0.03, "d_model": D_MODEL, "n_layers": N_LAYERS}
    assert describe(meta, scheme="olmo_core") == describe(meta, scheme=("olmo_core", given))
    default = _rows(meta, ("olmo_core", {"method": "normal", "std": 0.02}))
    assert _rows(meta) != default


def test_olmo_core_explicit_options_win_over_the_models():
    meta = _config("llama", init_std=0.04, embedding_init_std=0.5).build(init_device="meta")
    rows = _rows(meta, ("olmo_core", {"method": "normal", "std": 0.01}))
    assert rows["blocks.2.attention.w_out.weight"]["bounds"][1] == pytest.approx(0.03)
    assert rows["embeddings.weight"]["bounds"][1] == pytest.approx(1.5)  # the model's
    read = _rows(meta)
    assert read["blocks.2.attention.w_out.weight"]["bounds"][1] == pytest.approx(
        3 * 0.04 / math.sqrt(2 * N_LAYERS))
    assert read["embeddings.weight"]["law"] == "normal(mean=0, std=1)"


def test_olmo_core_reads_n_layers_off_the_model_not_its_blocks():
    """OLMo-core scales by the model's ``n_layers`` (``num_blocks``), also when blocks
    are gone (a pipeline stage keeps a subset of them)."""
    meta = _config("llama").build(init_device="meta")
    del meta.blocks["2"]
    rows = _rows(meta)
    assert rows["blocks.0.feed_forward.w3.weight"]["bounds"][1] == pytest.approx(
        3 * 0.02 / math.sqrt(2 * N_LAYERS))


def test_olmo_core_refuses_a_normalized_model_and_writes_nothing():
    olmo = _olmo_core()
    meta = _config("normal").build(init_device="meta")
    meta.init_method = olmo.InitMethod.normalized
    with pytest.raises(ValueError, match=r"'olmo_core': the model's init_method='normalized' "
                                         r"is not reproduced"):
        materialize(meta, "cpu", scheme="olmo_core")
    assert all(t.is_meta for t in _tensors(meta).values())
    rows = _rows(meta, ("olmo_core", {"method": "llama"}))  # an explicit method is used
    assert rows["embeddings.weight"]["law"] == "normal(mean=0, std=1)"


@pytest.mark.parametrize(("attribute", "value", "error", "message"), [
    ("init_std", -0.02, ValueError, r"std \(the model's init_std\)=-0.02 must be a positive"),
    ("init_std", "0.02", TypeError, r"std \(the model's init_std\)"),
    ("embed_scale", 0.0, ValueError, r"embed_scale \(the model's embed_scale\)=0.0"),
    ("d_model", 64.0, TypeError, r"d_model \(the model's d_model\) must be an integer"),
])
def test_olmo_core_bad_model_attributes_are_refused_by_name(attribute, value, error, message):
    meta = _config("fan_in").build(init_device="meta")
    setattr(meta, attribute, value)
    with pytest.raises(error, match=message):
        materialize(meta, "cpu", scheme="olmo_core")
    assert all(t.is_meta for t in _tensors(meta).values())
