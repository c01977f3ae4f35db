"""gpuinit.torch: torch.nn modules initialized in place by gpuinit's kernels."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
import gpuinit as gi  # noqa: E402
from gpuinit.layers import path_stream  # noqa: E402
from gpuinit.torch import init_module, materialize  # noqa: E402


def _model():
    return nn.Sequential(nn.Linear(64, 128), nn.BatchNorm1d(128), nn.GRU(128, 32),
                         nn.Embedding(50, 16, padding_idx=3), nn.Conv2d(8, 16, 3),
                         nn.ConvTranspose1d(6, 4, 5), nn.LayerNorm(16),
                         nn.MultiheadAttention(32, 4, bias=True), nn.PReLU(init=0.1))


def _tensors(model):
    found = dict(model.named_parameters())
    found.update(dict(model.named_buffers()))
    return {k: v.detach().clone() for k, v in found.items()}


def _bound_is_reached(t, bound):
    values = t.abs().max().item()
    return 0.9 * bound < values <= bound


def test_torch_scheme_gives_each_module_its_reset_parameters_law():
    model = init_module(_model(), seed=0)
    t = _tensors(model)
    assert _bound_is_reached(t["0.weight"], 1 / 8) and _bound_is_reached(t["0.bias"], 1 / 8)
    assert (t["1.weight"] == 1).all() and (t["1.bias"] == 0).all()
    assert (t["1.running_var"] == 1).all() and t["1.num_batches_tracked"].item() == 0
    for name in ("2.weight_ih_l0", "2.weight_hh_l0", "2.bias_ih_l0", "2.bias_hh_l0"):
        assert _bound_is_reached(t[name], 1 / math.sqrt(32)), name
    assert abs(t["3.weight"].std().item() - 1) < 0.1 and (t["3.weight"][3] == 0).all()
    assert _bound_is_reached(t["4.weight"], 1 / math.sqrt(8 * 9))
    # ConvTranspose: torch reads fan_in from dim 1 of the (in, out, k) weight: 4 * 5
    assert _bound_is_reached(t["5.weight"], 1 / math.sqrt(4 * 5))
    assert (t["6.weight"] == 1).all() and (t["6.bias"] == 0).all()
    assert _bound_is_reached(t["7.in_proj_weight"], math.sqrt(6 / (96 + 32)))
    assert (t["7.in_proj_bias"] == 0).all() and (t["7.out_proj.bias"] == 0).all()
    assert _bound_is_reached(t["7.out_proj.weight"], 1 / math.sqrt(32))
    assert torch.allclose(t["8.weight"], torch.tensor([0.1]))


def test_values_match_the_kernels_with_the_name_stream_and_are_reproducible():
    a = init_module(nn.Linear(16, 32), seed=5)
    b = init_module(nn.Linear(16, 32), seed=5)
    assert torch.equal(a.weight, b.weight)
    expected = gi.random.uniform((32, 16), -0.25, 0.25, seed=5, stream=path_stream("weight"),
                                 device="cpu")
    np.testing.assert_array_equal(a.weight.detach().numpy(), expected)
    c = init_module(nn.Linear(16, 32), seed=6)
    assert not torch.equal(a.weight, c.weight)


def test_adding_a_module_leaves_the_others_unchanged():
    small = init_module(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)), seed=1)
    large = init_module(nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)), seed=1)
    assert torch.equal(small[1].weight, large[1].weight)


def test_transformer_matrices_are_xavier_uniform():
    model = init_module(nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1,
                                       num_decoder_layers=1, dim_feedforward=32), seed=0)
    w = model.encoder.layers[0].linear1.weight
    assert _bound_is_reached(w, math.sqrt(6 / (16 + 32)))
    bias = model.encoder.layers[0].linear1.bias
    assert _bound_is_reached(bias, 1 / 4)  # 1-D: keeps the Linear default


def test_a_dict_scheme_layers_over_the_torch_defaults():
    model = nn.Sequential(nn.Linear(256, 512), nn.LayerNorm(512), nn.Linear(512, 10))
    init_module(model, seed=0, scheme={"*.weight": "he_normal", "*.bias": "zeros",
                                       "2.weight": ("normal_", {"std": 0.02})})
    w = model[0].weight.detach()
    std = math.sqrt(2 / 256)  # torch fans: fan_in = 256 for the (512, 256) weight
    assert abs(w.std().item() - std) / std < 0.03
    assert w.abs().max().item() <= 2 * std / 0.8796256610342398 + 1e-6  # truncated at 2σ
    assert (model[1].weight == 1).all()  # 1-D: a fan-based initializer leaves it alone
    assert (model[0].bias == 0).all() and (model[1].bias == 0).all()
    assert abs(model[2].weight.std().item() - 0.02) < 0.003
    by_class = init_module(nn.Linear(4, 4), scheme={"weight": gi.initializers.Ones})
    assert (by_class.weight == 1).all()
    by_type = init_module(nn.Sequential(nn.Linear(30, 30)), scheme={nn.Linear: "orthogonal"})
    q = by_type[0].weight.detach().double()
    assert torch.allclose(q @ q.T, torch.eye(30, dtype=torch.float64), atol=1e-5)


def test_gpt2_scheme_scales_the_residual_projections():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn, self.c_proj = nn.Linear(64, 192), nn.Linear(64, 64)
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(64, 256), "c_proj": nn.Linear(256, 64)})

    model = nn.ModuleDict({"wte": nn.Embedding(1000, 64),
                           "h": nn.ModuleList([Block() for _ in range(6)])})
    init_module(model, seed=0, scheme="gpt2")
    assert abs(model["wte"].weight.std().item() - 0.02) < 0.001
    assert abs(model["h"][0].c_attn.weight.std().item() - 0.02) < 0.001
    residual = torch.cat([model["h"][i].mlp["c_proj"].weight.flatten() for i in range(6)])
    assert abs(residual.std().item() - 0.02 / math.sqrt(12)) < 0.0003
    assert (model["h"][2].c_attn.bias == 0).all()


def test_gpt2_scheme_counts_the_layers_of_a_torch_transformer_encoder():
    # Each TransformerEncoderLayer has two residual projections (self_attn.out_proj
    # and linear2): n_layer = 8 blocks, not the 4 that a count of out_proj/2 gives.
    model = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 256), 8,
                                  enable_nested_tensor=False)
    init_module(model, seed=0, scheme="gpt2")
    residual = torch.cat([t.flatten() for n, t in model.named_parameters()
                          if n.endswith(("out_proj.weight", "linear2.weight"))])
    assert abs(residual.std().item() - 0.02 / math.sqrt(16)) < 0.0002
    assert abs(model.layers[0].linear1.weight.std().item() - 0.02) < 0.001


def test_gpt2_depth_counts_indexed_blocks():
    from gpuinit.torch import gpt2_depth

    assert gpt2_depth(["h.0.attn.c_proj.weight", "h.0.mlp.c_proj.weight",
                       "h.1.attn.c_proj.weight", "h.1.mlp.c_proj.weight"]) == 2
    assert gpt2_depth(["encoder.layers.0.linear2.weight", "decoder.layers.0.linear2.weight",
                       "decoder.layers.0.self_attn.out_proj.weight"]) == 2
    assert gpt2_depth(["attn.c_proj.weight", "mlp.c_proj.weight"]) == 1


def test_unknown_modules_are_refused_before_anything_is_written():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.full((3,), 7.0))
            self.linear = nn.Linear(3, 3)

    model = Custom()
    before = model.linear.weight.detach().clone()
    with pytest.raises(ValueError, match=r"no initialization rule for \['scale'\]"):
        init_module(model)
    assert torch.equal(model.linear.weight, before)
    init_module(model, scheme={"scale": "ones"})
    assert (model.scale == 1).all()
    with pytest.raises(ValueError, match="scheme="):
        init_module(model, scheme="bert")
    with pytest.raises(TypeError, match="torch.nn.Module"):
        init_module(np.zeros(3))


def test_tied_weights_are_filled_once():
    embedding, head = nn.Embedding(20, 8), nn.Linear(8, 20, bias=False)
    head.weight = embedding.weight
    model = init_module(nn.ModuleDict({"embedding": embedding, "head": head}), seed=0)
    assert model["head"].weight is model["embedding"].weight
    assert abs(model["embedding"].weight.std().item() - 1.0) < 0.3  # Embedding's N(0, 1)


def test_materialize_builds_a_meta_model_on_the_device_with_the_same_values():
    with torch.device("meta"):
        meta = _model()
    with pytest.raises(ValueError, match="meta device"):
        init_module(meta)
    made = materialize(meta, "cpu", seed=3)
    reference = init_module(_model(), seed=3)
    for name, tensor in _tensors(made).items():
        assert tensor.device.type == "cpu"
        assert torch.equal(tensor, _tensors(reference)[name]), name


@pytest.mark.cuda
def test_materialize_on_the_gpu_equals_the_cpu():
    with torch.device("meta"):
        meta = _model()
    made = materialize(meta, "cuda", seed=3)
    reference = init_module(_model(), seed=3)
    for name, tensor in _tensors(made).items():
        assert tensor.device.type == "cuda"
        assert torch.allclose(tensor.cpu(), _tensors(reference)[name], atol=1e-6), name


def test_init_module_reports_progress_in_bytes_after_each_tensor():
    model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16))
    calls = []
    init_module(model, seed=0, progress=lambda done, total, name: calls.append(
        (done, total, name)))
    assert [name for _, _, name in calls] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert calls[-1][0] == calls[-1][1] == (8 * 16 + 16 + 16 + 16) * 4
    assert [done for done, _, _ in calls] == sorted(done for done, _, _ in calls)


def test_materialize_names_a_bad_device():
    with torch.device("meta"):
        model = nn.Linear(4, 4)
    with pytest.raises(ValueError, match="device='gpu0'"):
        materialize(model, "gpu0")
    assert model.weight.is_meta  # nothing was allocated


@pytest.mark.parametrize("scheme, error, message", [
    ({"*.weight": ("kaiming_normal_", {"mode": "bad"})}, ValueError, r"0\.weight: mode 'bad'"),
    ({"2.weight": ("uniform_", {"a": 2.0, "b": 1.0})}, ValueError,
     r"2\.weight: a=2\.0 must be <= b=1\.0"),
    ({"2.weight": ("normal_", {"sdt": 0.1})}, TypeError, r"2\.weight: .*'sdt'"),
    ({"2.weight": "dirac_"}, ValueError, r"2\.weight: dirac_ needs"),
    ({"2.weight": ("sparse_", {"sparsity": 2})}, ValueError, r"2\.weight: sparsity=2"),
    ({"2.*": ("constant_", {"val": "x"})}, TypeError, r"2\.weight: val must be"),
    ({"2.weight": ("uniform_", "x")}, TypeError, r"options of uniform_ must be a dict"),
])
def test_bad_scheme_options_raise_before_any_tensor_is_written(scheme, error, message):
    # 2.weight comes after tensors the scheme leaves to torch's defaults, so a
    # fill-as-you-go would already have rewritten 0.weight, 0.bias and 1.weight.
    # The checking pass must not zero the padding row nor scale by the gain.
    model = nn.Sequential(nn.Linear(4, 5), nn.Embedding(10, 5, padding_idx=0),
                          nn.Linear(5, 6))
    with torch.no_grad():
        model[1].weight[0] = 5.0
    scheme = {"0.weight": gi.initializers.Identity(gain=3.0), **scheme}
    before = _tensors(model)
    with pytest.raises(error, match=message):
        init_module(model, seed=0, scheme=scheme)
    for name, tensor in _tensors(model).items():
        assert torch.equal(tensor, before[name]), name
    with torch.device("meta"):
        meta = nn.Sequential(nn.Linear(4, 5), nn.Embedding(10, 5), nn.Linear(5, 6))
    with pytest.raises(error, match=message):
        materialize(meta, "cpu", seed=0, scheme=scheme)
    assert all(t.is_meta for t in meta.parameters())  # nothing was allocated


def test_checking_a_scheme_leaves_the_padding_row_and_identity_to_the_real_pass():
    model = nn.Sequential(nn.Embedding(6, 6, padding_idx=2), nn.Linear(6, 6))
    init_module(model, seed=0, scheme={"1.weight": gi.initializers.Identity(gain=3.0)})
    assert torch.equal(model[1].weight, 3.0 * torch.eye(6))
    assert (model[0].weight[2] == 0).all() and (model[0].weight[1] != 0).all()


def test_user_callables_run_once_and_only_in_the_writing_pass():
    calls = []

    def fill(t, *, seed, stream):
        calls.append(tuple(t.shape))
        t.fill_(0.5)

    model = init_module(nn.Sequential(nn.Linear(3, 4)), seed=0, scheme={"0.weight": fill})
    assert calls == [(4, 3)] and (model[0].weight == 0.5).all()
