"""scheme=("olmo_core", {...}) against OLMo-core's own ``Transformer.init_weights``.

Marked ``peers`` and skipped without ``olmo_core`` (checked with ai2-olmo-core 3.0.0).
Tiny models are built with OLMo-core's own classes (``TransformerConfig.llama_like``,
``.build(init_device=...)``) and initialized by OLMo-core over 4 seeds (the config's
``init_seed``; ``init_weights`` draws with a generator seeded by it) with each
``InitMethod`` (normal, llama, llama_depth, fan_in: src/olmo_core/nn/transformer/
init.py, model.py, nn/attention/__init__.py ``Attention.init_weights``); the same
config built on meta is materialized by gpuinit over 4 seeds.  Per tensor, pooled over
the seeds: mean and std agree within 6 standard errors, both lie inside the bounds
gpuinit's plan gives (and reach near a truncation that bites), constants are equal
exactly, and a two-sample KS test has p > 1e-4.  OLMo-core keeps RoPE's sin/cos in a
``BufferCache``, not as registered buffers: they are compared as OLMo-core computes
them on both models, and a forward pass with the same weights must give the same
logits.

The options a config sets (``init_std``, ``embedding_init_std``, ``embed_scale``) are
passed to the scheme as a user would (``std``, ``embedding_std``, ``embed_scale``);
d_model and n_layers are read off the model (its embedding width and its blocks), or
passed.

OLMo-core imports ``cached_path`` at module level for remote files (its S3, GCS and HF
clients need boto3 and google-cloud-storage); the model needs none of it, so when
``cached_path`` cannot be imported a stand-in whose functions raise is put in
``sys.modules`` for the import of ``olmo_core.nn.transformer`` only and removed after.
"""

import math
import sys
import types

import pytest

torch = pytest.importorskip("torch")
from gpuinit.torch import describe, materialize  # noqa: E402

from .test_codebase_schemes_titan_litgpt import SEEDS, _agree, _tensors  # noqa: E402

pytestmark = pytest.mark.peers
METHODS = ("normal", "llama", "llama_depth", "fan_in")
D_MODEL, N_LAYERS, VOCAB, SEQ = 64, 3, 300, 64


def _cached_path_stand_in() -> dict[str, types.ModuleType]:
    """Modules ``cached_path`` and ``cached_path.schemes`` with the names olmo_core/io.py
    and config.py import; using any of them raises."""
    def unavailable(*args, **kwargs):
        raise RuntimeError("cached_path is not installed (a test stand-in)")

    class SchemeClient:
        recoverable_errors = ()

        def __init__(self, *args, **kwargs):
            unavailable()

    class S3Client(SchemeClient):
        pass

    top, schemes = types.ModuleType("cached_path"), types.ModuleType("cached_path.schemes")
    top.cached_path, top.schemes = unavailable, schemes
    schemes.SchemeClient, schemes.S3Client = SchemeClient, S3Client
    schemes.add_scheme_client = unavailable
    return {"cached_path": top, "cached_path.schemes": schemes}


def _olmo_core():
    """Return olmo_core.nn.transformer, or skip saying why."""
    pytest.importorskip("olmo_core")
    try:
        import cached_path  # noqa: F401
        stand_in = {}
    except ImportError:
        stand_in = _cached_path_stand_in()
    saved = {name: sys.modules.get(name) for name in stand_in}
    sys.modules.update(stand_in)
    try:
        return pytest.importorskip("olmo_core.nn.transformer")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _config(method, seed=0, **kw):
    olmo = _olmo_core()
    return olmo.TransformerConfig.llama_like(
        d_model=D_MODEL, vocab_size=VOCAB, n_layers=N_LAYERS, n_heads=4, n_kv_heads=2,
        hidden_size_multiple_of=32, init_method=olmo.InitMethod(method), init_seed=seed, **kw)


def _theirs(method, seed, **kw):
    """OLMo-core's model and init: built on the CPU, then ``init_weights``."""
    model = _config(method, seed, **kw).build(init_device="cpu")
    model.init_weights(device=torch.device("cpu"), max_seq_len=SEQ)
    return model


def _meta(method, **kw):
    return _config(method, **kw).build(init_device="meta")


def _compare(method, options=None, **kw):
    """Return the per-tensor results of OLMo-core's init against gpuinit's scheme."""
    scheme = ("olmo_core", {"method": method, **(options or {})})
    plan = {row["tensor"]: row for row in describe(_meta(method, **kw), scheme=scheme)}
    ours = [_tensors(materialize(_meta(method, **kw), "cpu", seed=s, scheme=scheme))
            for s in SEEDS]
    theirs = [_tensors(_theirs(method, s, **kw)) for s in SEEDS]
    assert set(ours[0]) == set(theirs[0]) == set(plan)
    return [_agree(name, [o[name] for o in ours], [t[name] for t in theirs],
                   plan[name]["bounds"]) for name in theirs[0]]


def _expected_std(name, method, d=D_MODEL, layers=N_LAYERS, std=0.02):
    """The std before truncation of OLMo-core's law for a weight of the llama_like model,
    from init.py, or None for a norm."""
    if "norm" in name:
        return None
    if name == "embeddings.weight":
        return {"normal": std, "llama": 1.0, "llama_depth": 1.0, "fan_in": 1.0}[method]
    if name == "lm_head.w_out.weight":
        return std if method == "normal" else d ** -0.5
    i = int(name.split(".")[1])
    if method == "fan_in":
        return (3 * d) ** -0.5 if name.endswith("w2.weight") else d ** -0.5
    if name.endswith(("w_out.weight", "w2.weight", "w3.weight")):
        if method == "llama":
            return std / math.sqrt(2 * layers)
        if method == "llama_depth":
            return std / math.sqrt(2 * (i + 1))
    return std


@pytest.mark.parametrize("method", METHODS)
def test_olmo_core_matches_init_weights(method):
    results = _compare(method)
    names = {r["name"] for r in results}
    assert {"embeddings.weight", "lm_head.w_out.weight", "blocks.2.feed_forward.w3.weight",
            "blocks.0.attention.w_k.weight", "lm_head.norm.weight"} <= names
    for r in results:
        expected = _expected_std(r["name"], method)
        if expected is None:
            assert r["constant"] == 1.0, r
            continue
        truncated = r["name"] != "embeddings.weight" or method == "normal"
        sigma = expected * (0.9866 if truncated else 1.0)  # N(0, s²) cut at ±3s: 0.9866 s
        assert r["theirs"] == pytest.approx(sigma, rel=0.15), r


@pytest.mark.parametrize(("method", "config", "options"), [
    ("normal", {"init_std": 0.01, "embedding_init_std": 0.05},
     {"std": 0.01, "embedding_std": 0.05}),
    ("fan_in", {"embed_scale": 8.0}, {"embed_scale": 8.0}),
    ("llama", {"tie_word_embeddings": True, "qk_norm": True}, {}),
    ("llama_depth", {"init_std": 0.03, "qk_norm": True}, {"std": 0.03}),
    ("normal", {"tie_word_embeddings": True}, {}),
    ("llama", {}, {"d_model": D_MODEL, "n_layers": N_LAYERS}),
], ids=["normal-stds", "fan_in-embed_scale", "llama-tied-qk_norm", "llama_depth-std",
        "normal-tied", "llama-d_model-n_layers-passed"])
def test_olmo_core_config_options_passed_as_options(method, config, options):
    results = {r["name"]: r for r in _compare(method, options, **config)}
    if config.get("tie_word_embeddings"):
        assert "lm_head.w_out.weight" not in results  # one tensor, the embedding's law
    if config.get("qk_norm"):
        assert results["blocks.1.attention.q_norm.weight"]["constant"] == 1.0
    if "embed_scale" in config:
        assert results["embeddings.weight"]["theirs"] == pytest.approx(1 / 8, rel=0.05)


def test_olmo_core_reads_d_model_and_n_layers_off_the_model():
    read = describe(_meta("llama"), scheme=("olmo_core", {"method": "llama"}))
    given = describe(_meta("llama"), scheme=("olmo_core", {"method": "llama",
                                                           "d_model": D_MODEL,
                                                           "n_layers": N_LAYERS}))
    assert read == given
    rows = {row["tensor"]: row for row in read}
    assert rows["lm_head.w_out.weight"]["bounds"] == pytest.approx((-3 / 8, 3 / 8))
    assert rows["blocks.0.attention.w_out.weight"]["bounds"][1] == \
        pytest.approx(3 * 0.02 / math.sqrt(6))


def test_olmo_core_rope_and_forward_agree():
    """No RoPE buffer is registered (OLMo-core's BufferCache): after materialize the sin/cos
    OLMo-core computes are its own, and with OLMo-core's weights loaded the materialized
    model gives OLMo-core's logits exactly."""
    theirs = _theirs("llama", 3)
    ours = materialize(_meta("llama"), "cpu", seed=1, scheme=("olmo_core", {"method": "llama"}))
    assert not list(ours.named_buffers())
    cpu = torch.device("cpu")
    for i in range(N_LAYERS):
        a = ours.blocks[str(i)].attention.rope.get_buffers(SEQ, cpu)
        b = theirs.blocks[str(i)].attention.rope.get_buffers(SEQ, cpu)
        assert torch.equal(a.pos_sin, b.pos_sin) and torch.equal(a.pos_cos, b.pos_cos)
    ours.load_state_dict(theirs.state_dict())
    tokens = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(ours(tokens), theirs(tokens))


def test_olmo_core_moe_is_refused_naming_its_tensors():
    """The MoE block's router and expert weights are not nn.Linear: the scheme has no role
    for them and says so before anything is written."""
    olmo = _olmo_core()
    config = olmo.TransformerConfig.llama_like_moe(
        d_model=D_MODEL, vocab_size=VOCAB, n_layers=2, n_heads=4, num_experts=4, top_k=2,
        expert_hidden_size=32)
    model = config.build(init_device="meta")
    with pytest.raises(ValueError, match=r"'olmo_core' finds no role for "
                                         r"\['blocks.0.feed_forward_moe.router.weight'"):
        materialize(model, "cpu", scheme=("olmo_core", {"method": "llama"}))
    assert all(t.is_meta for t in _tensors(model).values())
