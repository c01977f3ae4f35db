"""The schemes against the codebases themselves: transformers' own ``_init_weights`` for
scheme="hf", and microsoft/mup's init for scheme="mup" (marked ``peers``: they need
``transformers`` / ``mup``).

Tiny configs built in code (no downloads).  Per tensor, the reference is the
package's own init (torch's RNG, seed 0) and gpuinit's is materialized from the
meta device: constants must match exactly, random tensors in std within five
standard errors of each sample (a few percent at these sizes), padding rows zero
in both; and the materialized model's buffers and forward pass equal those of the
normally built model given the same weights.
"""

import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
nn = torch.nn
from gpuinit.torch import describe, init_module, materialize  # noqa: E402

pytestmark = pytest.mark.peers
transformers.logging.set_verbosity_error()

_SMALL = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
          "num_attention_heads": 4, "vocab_size": 512, "max_position_embeddings": 64}


def _configs():
    t = transformers
    return {
        "llama": (t.AutoModelForCausalLM, t.LlamaConfig(**_SMALL, num_key_value_heads=2,
                                                        pad_token_id=3)),
        "llama-tied-llama3-rope": (t.AutoModelForCausalLM, t.LlamaConfig(
            **_SMALL, tie_word_embeddings=True,
            rope_parameters={"rope_type": "llama3", "rope_theta": 50000.0, "factor": 8.0,
                             "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 32})),
        "mistral": (t.AutoModelForCausalLM, t.MistralConfig(**_SMALL, num_key_value_heads=2,
                                                            initializer_range=0.05)),
        "qwen2": (t.AutoModelForCausalLM, t.Qwen2Config(**_SMALL, num_key_value_heads=2)),
        "gpt2": (t.AutoModelForCausalLM, t.GPT2Config(n_embd=128, n_layer=3, n_head=4,
                                                      vocab_size=512, n_positions=64)),
        "gpt_neox": (t.AutoModelForCausalLM, t.GPTNeoXConfig(**_SMALL)),
        "bert": (t.AutoModelForMaskedLM, t.BertConfig(**_SMALL, pad_token_id=0)),
    }


FAMILIES = list(_configs())


def _build(family, meta):
    auto, config = _configs()[family]
    if meta:
        with torch.device("meta"):
            return auto.from_config(config)
    torch.manual_seed(0)
    return auto.from_config(config)


def _tensors(model):
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    return {n: t.detach() for n, t in tensors.items()}


def _close_std(a, b, n_a, n_b):
    """Return True when two sample stds agree within five standard errors."""
    tolerance = 5 * math.sqrt(1 / (2 * n_a) + 1 / (2 * n_b))
    return abs(a / b - 1) <= tolerance


@pytest.mark.parametrize("family", FAMILIES)
def test_hf_scheme_gives_each_tensor_the_law_of_the_models_own_init(family):
    reference = _tensors(_build(family, meta=False))
    model = _build(family, meta=True)
    rows = {r["tensor"]: r for r in describe(model, scheme="hf")}
    materialize(model, "cpu", seed=0, scheme="hf")
    ours = _tensors(model)
    assert ours.keys() == reference.keys()
    padding = getattr(model.config, "pad_token_id", None)
    for name, ref in reference.items():
        mine, row = ours[name], rows[name]
        assert mine.shape == ref.shape and mine.dtype == ref.dtype, name
        if ref.dtype == torch.bool or ref.dtype == torch.long or not ref.is_floating_point() \
                or (ref == ref.flatten()[0]).all() or row["law"].startswith("computed"):
            assert torch.equal(mine, ref), name  # constants and computed buffers: exactly
            continue
        ref, mine = ref.double(), mine.double()
        rows_kept = torch.ones(ref.shape[0], dtype=torch.bool)
        if padding is not None and name.endswith(("embed_tokens.weight", "word_embeddings.weight")):
            assert (ref[padding] == 0).all() and (mine[padding] == 0).all(), name
            rows_kept[padding] = False
        r, m = ref[rows_kept], mine[rows_kept]
        n = r.numel()
        assert _close_std(m.std().item(), r.std().item(), n, n), (name, m.std(), r.std())
        assert _close_std(row["std"], r.std().item(), n, 1e12), (name, row["std"], r.std())
        assert abs(m.mean().item()) < 5 * row["std"] / math.sqrt(n), name


def test_gpt2_residual_projections_and_the_config_std_are_read_from_the_config():
    rows = {r["tensor"]: r for r in describe(_build("gpt2", meta=True), scheme="hf")}
    assert rows["transformer.h.2.mlp.c_proj.weight"]["std"] == pytest.approx(0.02 / math.sqrt(6))
    assert rows["transformer.h.0.attn.c_attn.weight"]["std"] == 0.02
    mistral = {r["tensor"]: r for r in describe(_build("mistral", meta=True), scheme="hf")}
    assert mistral["model.layers.1.mlp.down_proj.weight"]["std"] == 0.05


@pytest.mark.parametrize("family", FAMILIES)
def test_a_materialized_model_computes_what_a_normally_built_one_does(family):
    model = materialize(_build(family, meta=True), "cpu", seed=3, scheme="hf")
    reference = _build(family, meta=False)
    reference.load_state_dict(model.state_dict())
    for name, buffer in reference.named_buffers():  # the constructor's own buffers
        assert torch.equal(model.get_buffer(name), buffer), name
    model.eval()
    reference.eval()
    ids = torch.randint(1, 512, (2, 24), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)


def test_tied_input_and_output_embeddings_stay_tied_and_are_filled_once():
    for family in ("gpt2", "llama-tied-llama3-rope", "bert"):
        model = materialize(_build(family, meta=True), "cpu", scheme="hf")
        output, inputs = model.get_output_embeddings(), model.get_input_embeddings()
        assert output.weight is inputs.weight, family
    bert = materialize(_build("bert", meta=True), "cpu", scheme="hf")
    assert (bert.bert.embeddings.word_embeddings.weight[0] == 0).all()  # the padding row


def test_hf_scheme_reinitializes_an_already_built_model_in_place():
    model = _build("qwen2", meta=False)
    init_module(model, seed=1, scheme="hf")
    q = model.model.layers[0].self_attn.q_proj
    assert abs(q.weight.std().item() / 0.02 - 1) < 0.05
    assert torch.equal(q.bias, torch.zeros_like(q.bias))  # Qwen2's qkv biases


def test_hf_scheme_refuses_models_whose_init_it_does_not_know():
    unknown = transformers.xLSTMForCausalLM(transformers.xLSTMConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_heads=2))
    with pytest.raises(ValueError,
                       match=r"does not know .*xLSTMPreTrainedModel\._init_weights"):
        describe(unknown, scheme="hf")
    with pytest.raises(ValueError, match="needs a transformers PreTrainedModel"):
        describe(nn.Linear(2, 2), scheme="hf")
    model = _build("llama", meta=True)
    model.model.scale = nn.Parameter(torch.empty(4, device="meta"))
    with pytest.raises(ValueError, match=r"scheme 'hf' has no rule for \['model\.scale'\]"):
        materialize(model, "cpu", scheme="hf")
    assert all(t.is_meta for t in model.parameters())
    materialize(model, "cpu", scheme=("hf", {"overrides": {"model.scale": "ones"}}))
    assert torch.equal(model.model.scale.detach(), torch.ones(4))


def test_role_based_schemes_place_every_tensor_of_the_hf_families():
    for family in ("llama", "qwen2", "gpt_neox", "gpt2"):
        for scheme in ("megatron", ("olmo_core", {"method": "llama"}), "neox"):
            rows = describe(_build(family, meta=True), scheme=scheme)
            assert all(r["role"] is not None for r in rows), (family, scheme)
    rows = {r["tensor"]: r for r in describe(_build("llama", meta=True), scheme="megatron")}
    assert rows["model.layers.1.self_attn.o_proj.weight"]["std"] == pytest.approx(0.01)
    assert rows["model.rotary_emb.inv_freq"]["law"] == "computed: rotary inv_freq (default)"


# ----------------------------------------------------------------------------- mup


def _mup_model(width, mup):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(96, width)
            self.layers = nn.ModuleList([nn.ModuleDict({
                "fc1": nn.Linear(width, 2 * width), "fc2": nn.Linear(2 * width, width),
                "norm": nn.LayerNorm(width)}) for _ in range(2)])
            self.lm_head = mup.MuReadout(width, 96, readout_zero_init=False)

    return Net()


def test_mup_scheme_matches_mups_own_init():
    mup = pytest.importorskip("mup")
    base, delta = _mup_model(32, mup), _mup_model(48, mup)
    reference = _mup_model(256, mup)
    mup.set_base_shapes(reference, base, delta=delta)
    torch.manual_seed(0)
    for name, p in reference.named_parameters():
        if "norm" in name:
            continue
        if name.endswith("bias"):
            torch.nn.init.zeros_(p)
        else:
            mup.init.normal_(p, std=0.05)
    model = _mup_model(256, mup)
    init_module(model, seed=0, scheme=("mup", {"base": base, "delta": delta, "std": 0.05}))
    rows = {r["tensor"]: r for r in describe(model, scheme=("mup", {"base": base,
                                                                   "delta": delta,
                                                                   "std": 0.05}))}
    for name, ref in reference.named_parameters():
        mine, ref = model.get_parameter(name).detach().double(), ref.detach().double()
        if (ref == ref.flatten()[0]).all():
            assert torch.equal(mine, ref), name
            continue
        n = ref.numel()
        assert _close_std(mine.std().item(), ref.std().item(), n, n), name
        assert _close_std(rows[name]["std"], ref.std().item(), n, 1e12), name
    assert rows["layers.0.fc2.weight"]["std"] == pytest.approx(0.05 / math.sqrt(256 / 32))
    assert rows["lm_head.weight"]["std"] == 0.05
