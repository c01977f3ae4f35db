"""The named schemes refuse bad options, with a typed error naming the option, before
anything is written, and never make silently wrong tensors.

One checking routine (gpuinit.schemes.options) runs every scheme's options against
their constraints, declared as data (Scheme.checks); these tests hold each class of
mistake against every scheme: non-bool booleans ("false" is truthy), infinite, NaN
and out-of-range numbers, laws whose std underflows or overflows, divisions by zero
in the laws, "overrides" patterns that match nothing, and a broken transformers.
NumPy scalars and 0-d arrays are numbers like Python's.  Tiny CPU models only.
"""

import math
import sys

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")
nn = torch.nn
from gpuinit.schemes import SCHEMES  # noqa: E402
from gpuinit.schemes.options import BOOL, COUNT, POSITIVE, Constraint, check_option  # noqa: E402
from gpuinit.torch import describe, init_module, materialize  # noqa: E402

NAMED = ("megatron", "olmo", "olmo_core", "neox", "deepnet", "t-fixup", "mup", "torchtitan",
         "litgpt", "torchtune")


def llama(d=8, layers=2, vocab=16, ff=16, bias=False):
    """Hugging Face Llama's module names from plain torch modules (untied lm_head)."""
    def layer():
        block = nn.Module()
        block.self_attn = nn.ModuleDict({n: nn.Linear(d, d, bias=bias)
                                         for n in ("q_proj", "k_proj", "v_proj", "o_proj")})
        block.mlp = nn.ModuleDict({"gate_proj": nn.Linear(d, ff, bias=bias),
                                   "up_proj": nn.Linear(d, ff, bias=bias),
                                   "down_proj": nn.Linear(ff, d, bias=bias)})
        block.input_layernorm, block.post_attention_layernorm = nn.LayerNorm(d), nn.LayerNorm(d)
        return block

    model = nn.Module()
    model.model = nn.Module()
    model.model.embed_tokens = nn.Embedding(vocab, d)
    model.model.layers = nn.ModuleList([layer() for _ in range(layers)])
    model.model.norm = nn.LayerNorm(d)
    model.lm_head = nn.Linear(d, vocab, bias=False)
    return model


def _base():
    """mup's base shapes: the same model at half the width."""
    return {n: tuple(p.shape) for n, p in llama(d=4, ff=8).named_parameters()}


def _scheme(name, options):
    """(name, options) with what the scheme needs besides (mup's base)."""
    return (name, {"base": _base(), **options}) if name == "mup" else (name, dict(options))


def _clones(model):
    tensors = dict(model.named_parameters())
    tensors.update(dict(model.named_buffers()))
    return {n: t.detach().clone() for n, t in tensors.items()}


def _unchanged(model, before):
    after = _clones(model)
    return after.keys() == before.keys() and all(torch.equal(after[n], before[n])
                                                  for n in before)


def _refused(name, options, error, *named, model=None):
    """Assert init_module refuses the options with ``error`` naming each of ``named``,
    leaving every tensor of the model as it was; returns the message."""
    model = model if model is not None else llama()
    before = _clones(model)
    with pytest.raises(error) as info:
        init_module(model, seed=0, scheme=_scheme(name, options))
    message = str(info.value)
    for word in named:
        assert word in message, (word, message)
    assert _unchanged(model, before)
    return message


# ----------------------------------------------------------------------------- the data


def test_every_option_of_every_named_scheme_has_a_constraint():
    for name in NAMED + ("hf",):
        spec = SCHEMES[name]
        assert set(spec.checks) == set(spec.defaults), name
        assert all(isinstance(c, Constraint) for c in spec.checks.values())


def _options_of(kind):
    return [(name, option) for name in NAMED for option, c in SCHEMES[name].checks.items()
            if c.kind == kind.kind]


# ----------------------------------------------------------------------------- booleans


@pytest.mark.parametrize("name, option, value", [
    ("megatron", "zero_centered_gamma", "false"),
    ("megatron", "use_mup", "no"),
    ("olmo", "scale_emb_init", "no"),
    ("mup", "readout_zero_init", "no"),
])
def test_the_reported_truthy_strings_are_refused(name, option, value):
    options = {"method": "full_megatron"} if name == "olmo" else {}
    _refused(name, {**options, option: value}, TypeError, option, name)


@pytest.mark.parametrize("name, option", _options_of(BOOL))
@pytest.mark.parametrize("value", ["false", "True", "", 0, 1, 1.0, None, [], np.array([True])])
def test_every_boolean_option_takes_true_or_false_only(name, option, value):
    _refused(name, {option: value}, TypeError, option)


@pytest.mark.parametrize("name, option", _options_of(BOOL))
def test_numpy_bools_are_booleans(name, option):
    for value in (np.bool_(True), np.bool_(False), np.array(True)):
        ours, theirs = llama(), llama()
        init_module(ours, seed=3, scheme=_scheme(name, {option: value}))
        init_module(theirs, seed=3, scheme=_scheme(name, {option: bool(value)}))
        assert all(torch.equal(t, _clones(theirs)[n]) for n, t in _clones(ours).items())


def test_false_is_false():
    model = init_module(llama(), scheme=("megatron", {"zero_centered_gamma": False}))
    assert torch.equal(model.model.norm.weight, torch.ones(8))
    model = init_module(llama(), scheme=("megatron", {"zero_centered_gamma": np.bool_(True)}))
    assert torch.equal(model.model.norm.weight, torch.zeros(8))


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("name, options, option", [
    ("megatron", {"multiplier": math.inf}, "multiplier"),
    ("megatron", {"use_mup": True, "mup_width_mult": math.inf}, "mup_width_mult"),
    ("megatron", {"mup_width_mult": math.inf}, "mup_width_mult"),  # checked even if unused
    ("olmo_core", {"method": "fan_in", "embed_scale": math.inf}, "embed_scale"),
    ("megatron", {"std": math.nan}, "std"),
])
def test_the_reported_infinite_scales_are_refused(name, options, option):
    _refused(name, options, ValueError, option, name)


@pytest.mark.parametrize("name, option", _options_of(POSITIVE))
@pytest.mark.parametrize("value, error", [
    (math.inf, ValueError), (-math.inf, ValueError), (math.nan, ValueError),
    (np.float32("inf"), ValueError), (np.array(math.nan), ValueError),
    (0, ValueError), (0.0, ValueError), (-1, ValueError), (-1e-300, ValueError),
    (10 ** 400, ValueError), ("0.1", TypeError), (True, TypeError), (None, TypeError),
    ([0.1], TypeError), (np.array([0.1]), TypeError), (1 + 1j, TypeError),
])
def test_every_scale_option_is_a_finite_positive_number(name, option, value, error):
    if value is None and SCHEMES[name].checks[option].optional:
        # None means the scheme's default here: accepted, and checked as such.
        assert check_option(name, option, None, SCHEMES[name].checks[option]) is None
        return
    _refused(name, {option: value}, error, option)


@pytest.mark.parametrize("name, option", _options_of(COUNT))
@pytest.mark.parametrize("value, error", [
    (10 ** 400, ValueError), (2 ** 63, ValueError), (0, ValueError), (-3, ValueError),
    (np.int64(0), ValueError), (4.0, TypeError), (np.float64(4.0), TypeError),
    ("4", TypeError), (True, TypeError), (np.bool_(True), TypeError), (math.inf, TypeError),
])
def test_every_integer_option_is_an_integer_from_1_below_2_to_the_63(name, option, value, error):
    _refused(name, {option: value}, error, option)


@pytest.mark.parametrize("name, option", [
    ("megatron", "num_layers"), ("olmo", "n_layers"), ("olmo", "d_model"),
    ("olmo_core", "d_model"), ("deepnet", "encoder_layers"), ("t-fixup", "decoder_layers"),
])
def test_the_reported_huge_integers_are_refused(name, option):
    message = _refused(name, {option: 10 ** 400}, ValueError, option)
    assert len(message) < 300  # the size, not 401 digits


@pytest.mark.parametrize("name, options, numpy_options", [
    ("megatron", {"std": 0.01}, {"std": np.float64(0.01)}),
    ("megatron", {"std": 0.25}, {"std": np.float32(0.25)}),
    ("megatron", {"std": 0.01}, {"std": np.array(0.01)}),
    ("megatron", {"num_layers": 4}, {"num_layers": np.int64(4)}),
    ("megatron", {"num_layers": 4}, {"num_layers": np.array(4)}),
    ("megatron", {"use_mup": True, "mup_width_mult": 2.0},
     {"use_mup": np.bool_(True), "mup_width_mult": np.float16(2.0)}),
    ("megatron", {"use_mup": True, "mup_base_hidden_size": 4},
     {"use_mup": True, "mup_base_hidden_size": np.uint8(4)}),
    ("olmo", {"method": "full_megatron", "d_model": 8, "n_layers": 3, "cutoff_factor": 2.0},
     {"method": np.str_("full_megatron"), "d_model": np.int32(8), "n_layers": np.int16(3),
      "cutoff_factor": np.float32(2.0)}),
    ("olmo_core", {"method": "fan_in", "embed_scale": 0.5},
     {"method": "fan_in", "embed_scale": np.float32(0.5)}),
    ("neox", {"init_method_std": 0.01, "hidden_size": 8, "num_layers": 2},
     {"init_method_std": np.float64(0.01), "hidden_size": np.int64(8),
      "num_layers": np.array(2)}),
    ("deepnet", {"encoder_layers": 3, "arch": "encoder"},
     {"encoder_layers": np.int64(3), "arch": "encoder"}),
    ("t-fixup", {"decoder_layers": 5}, {"decoder_layers": np.int8(5)}),
    ("mup", {"std": 0.5, "readout_zero_init": True},
     {"std": np.float32(0.5), "readout_zero_init": np.bool_(True)}),
])
def test_numpy_scalars_and_0d_arrays_are_numbers_giving_the_same_tensors(name, options,
                                                                       numpy_options):
    ours, theirs = llama(), llama()
    init_module(ours, seed=7, scheme=_scheme(name, numpy_options))
    init_module(theirs, seed=7, scheme=_scheme(name, options))
    expected = _clones(theirs)
    assert all(torch.equal(t, expected[n]) for n, t in _clones(ours).items())
    rows = describe(llama(), scheme=_scheme(name, numpy_options))
    assert rows == describe(llama(), scheme=_scheme(name, options))


# ----------------------------------------------------------------------------- the laws


@pytest.mark.parametrize("name, options, named", [
    # std / sqrt(2 L): a subnormal std, N(0, 3e-310) (zeros in float32)
    ("megatron", {"std": 1e-300, "num_layers": 2 ** 62}, ("std=1e-300", "num_layers=",
                                                          "o_proj.weight")),
    # std * width_mult^-1/2 underflows to a subnormal
    ("megatron", {"std": 1e-300, "use_mup": True, "mup_width_mult": 1e300},
     ("mup_width_mult=1e+300", "q_proj.weight")),
    ("megatron", {"embedding_std": 5e-324}, ("embedding_std=5e-324", "embed_tokens.weight")),
    ("olmo", {"method": "full_megatron", "std": 1e-300, "n_layers": 2 ** 62},
     ("n_layers=", "o_proj.weight")),
    ("olmo_core", {"method": "llama", "std": 1e-300, "n_layers": 2 ** 62},
     ("std=1e-300", "o_proj.weight")),
    ("neox", {"init_method": "scaled_normal", "init_method_std": 1e-300, "num_layers": 2 ** 62},
     ("init_method_std=1e-300", "embed_tokens.weight")),
    ("mup", {"std": 1e-310}, ("std=1e-310", "embed_tokens.weight")),
])
def test_a_law_whose_std_is_not_a_normal_float_is_refused_naming_tensor_and_options(
        name, options, named):
    message = _refused(name, options, ValueError, name, *named)
    assert "normal positive float" in message


def test_a_law_whose_std_overflows_is_refused_naming_the_scheme_and_its_options():
    # std / sqrt(k L) overflows: the law refuses an infinite std when it is made, before
    # any tensor has it.
    message = _refused("megatron", {"std": 1e308, "multiplier": 1e-308}, ValueError,
                       "scheme 'megatron' cannot compute its laws", "multiplier=1e-308",
                       "std=1e+308", "std=inf must be finite")
    assert message.count("megatron") == 1


@pytest.mark.parametrize("name, options, tensor", [
    ("olmo", {"method": "mitchell"}, "model.layers.0.mlp.down_proj.weight"),
    ("olmo_core", {"method": "fan_in"}, "model.layers.0.mlp.down_proj.weight"),
])
def test_a_law_dividing_by_a_fan_in_of_zero_is_refused_naming_the_tensor(name, options,
                                                                         tensor):
    message = _refused(name, options, ValueError, tensor, name, model=llama(ff=0))
    assert "fan-in 0" in message


def test_deepnet_gives_a_layer_of_fan_in_0_what_nn_linear_gives_it():
    model = init_module(llama(ff=0, bias=True), seed=0, scheme="deepnet")
    reference = nn.Linear(0, 8)
    down = model.model.layers[0].mlp["down_proj"]
    assert down.weight.numel() == 0 and torch.equal(down.bias, torch.zeros(8))
    assert torch.equal(reference.bias, torch.zeros(8))  # torch: bound 0 at fan-in 0
    q = model.model.layers[0].self_attn["q_proj"].weight
    assert q.abs().max() > 0  # the rest is drawn as before


def test_a_bad_option_leaves_a_meta_model_on_meta():
    with torch.device("meta"):
        model = llama()
    for scheme in (("megatron", {"zero_centered_gamma": "false"}),
                   ("megatron", {"multiplier": math.inf}),
                   ("olmo", {"n_layers": 10 ** 400}),
                   ("megatron", {"overrides": {"nowhere.*": "ones"}}),
                   ("megatron", {"std": 1e-300, "num_layers": 2 ** 62})):
        with pytest.raises((TypeError, ValueError)):
            materialize(model, "cpu", scheme=scheme)
        assert all(t.is_meta for t in _clones(model).values())
    with pytest.raises(TypeError, match="use_mup"):
        describe(llama(), scheme=("megatron", {"use_mup": "no"}))


# ----------------------------------------------------------------------------- overrides


@pytest.mark.parametrize("name", NAMED)
def test_an_overrides_pattern_matching_no_tensor_is_refused(name):
    _refused(name, {"overrides": {"*.weight": "ones", "nowhere.*": "zeros"}}, ValueError,
             "'nowhere.*'", "matches no tensor")
    _refused(name, {"overrides": {nn.Conv2d: "ones"}}, ValueError, "Conv2d", "no module")
    _refused(name, {"overrides": ["*.weight"]}, TypeError, "overrides")


def test_an_overrides_pattern_may_name_a_tied_tensor_by_its_second_name():
    model = llama()
    model.lm_head.weight = model.model.embed_tokens.weight
    init_module(model, scheme=("megatron", {"overrides": {"lm_head.weight": "ones"}}))
    assert torch.equal(model.model.embed_tokens.weight, torch.ones(16, 8))


# ----------------------------------------------------------------------------- hf


class _Finder:
    """A meta path finder whose import of transformers raises ``error``."""

    def __init__(self, error):
        self.error = error

    def find_spec(self, name, path=None, target=None):
        if name == "transformers":
            raise self.error
        return None


@pytest.mark.parametrize("error, named", [
    (RuntimeError("operator torchvision::nms does not exist"), "torchvision::nms"),
    (ModuleNotFoundError("No module named 'tokenizers'", name="tokenizers"), "tokenizers"),
    (ImportError("cannot import name 'PreTrainedModel'"), "PreTrainedModel"),
])
def test_a_broken_transformers_is_reported_with_its_own_error(monkeypatch, error, named):
    for module in [m for m in sys.modules if m == "transformers" or m.startswith("transformers.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sys, "meta_path", [_Finder(error), *sys.meta_path])
    model = llama()
    before = _clones(model)
    with pytest.raises(ImportError, match=named) as info:
        init_module(model, scheme="hf")
    assert info.value.__cause__ is error
    assert "pip install" not in str(info.value)
    assert _unchanged(model, before)


def test_a_missing_transformers_says_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import -> ModuleNotFoundError
    with pytest.raises(ValueError, match="needs transformers: pip install transformers"):
        init_module(llama(), scheme="hf")


def _gpt2(layers):
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    config = transformers.GPT2Config(n_layer=layers, n_embd=16, n_head=2, vocab_size=32,
                                     n_positions=8, eos_token_id=0, bos_token_id=0)
    return transformers.AutoModelForCausalLM.from_config(config)


@pytest.mark.peers
def test_hf_gpt2_with_no_layers_computes_no_residual_std_as_transformers_does():
    model = init_module(_gpt2(0), seed=0, scheme="hf")
    assert model.transformer.wte.weight.std() > 0


@pytest.mark.peers
def test_hf_gpt2_blocks_under_n_layer_0_are_refused_naming_the_tensor():
    model = _gpt2(1)
    model.config.n_layer = 0
    before = _clones(model)
    with pytest.raises(ValueError, match=r"'transformer\.h\.0\.attn\.c_proj\.weight'.*n_layer=0"):
        init_module(model, scheme="hf")
    assert _unchanged(model, before)


@pytest.mark.peers
def test_hf_overrides_matching_nothing_and_bad_stds_are_refused():
    model = _gpt2(1)
    _refused("hf", {"overrides": {"nowhere": "ones"}}, ValueError, "'nowhere'", model=model)
    model.config.initializer_range = 1e-320
    _refused("hf", {}, ValueError, "config", "std=1e-320", model=model)
