"""scheme="torchtune" against torchtune 0.6.1's own initialization of a model from scratch.

torchtune 0.6.1 does not import with torch 2.13 (it imports ``torchao.dtypes.nf4tensor``,
which torchao 0.18 no longer has, and the torchao releases that have it fail to import
under torch 2.13).  So the unmarked tests write its modules here as torch models with
torchtune's names, layout and constructors, copied from the 0.6.1 source (each class
cites its file): ``TransformerDecoder`` with ``tok_embeddings``, ``layers.N.attn.q_proj/
k_proj/v_proj/output_proj`` and ``pos_embeddings``, ``layers.N.mlp.w1/w2/w3``,
``sa_norm``/``mlp_norm``/``norm`` (``RMSNorm.scale``) and ``output`` (``nn.Linear`` or
``TiedLinear``), built as the builders of torchtune/models/{llama3,llama3_1,qwen2,gemma,
gemma2}/_component_builders.py build them, with ``LoRALinear``/``DoRALinear``,
``KVCache``, ``TanhGate`` and the vision CLS/positional embeddings.  Built on the CPU
they initialize themselves as torchtune's modules do (torch's own ``nn.Linear`` and
``nn.Embedding`` defaults, ``torch.ones``/``torch.zeros`` gains, LoRA's
``initialize_parameters``, the recipes' ``initialize_dora_magnitude``): that is the
reference.  Built on meta and materialized by gpuinit over 4 seeds, each tensor's law
is compared with it, pooled over the seeds (mean and std within 6 standard errors,
bounds, constants exactly, two-sample KS p > 1e-4); the RoPE buffers must equal, bit
for bit, ``build_rope_cache`` as reimplemented below from the source.

A test marked ``peers`` runs the same comparison on torchtune's own builders when
``import torchtune`` works, and otherwise skips saying why.
"""

import math

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional
from gpuinit.schemes import SCHEMES, scheme_names  # noqa: E402
from gpuinit.torch import describe, init_module, materialize  # noqa: E402

from .test_codebase_schemes_titan_litgpt import _compare as _compare_laws  # noqa: E402
from .test_codebase_schemes_titan_litgpt import _tensors  # noqa: E402

# ------------------------------------- torchtune 0.6.1's modules, as its source has them


class RMSNorm(nn.Module):
    """torchtune/modules/rms_norm.py: the gain is ``scale``, ``torch.ones``."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.normalized_shape, self.eps = (dim,), eps
        self.scale = nn.Parameter(torch.ones(dim))


class GemmaRMSNorm(nn.Module):
    """torchtune/models/gemma/rms_norm.py: ``scale`` ``torch.zeros`` (gain 1 + scale)."""

    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.zeros(dim))


class GemmaNormEmbeddings(nn.Embedding):
    """torchtune/models/gemma/gemma_norm_embedding.py: an nn.Embedding subclass."""


class RotaryPositionalEmbeddings(nn.Module):
    """torchtune/modules/position_embeddings.py ``RotaryPositionalEmbeddings``."""

    def __init__(self, dim, max_seq_len=4096, base=10_000):
        super().__init__()
        self.dim, self.base, self.max_seq_len = dim, base, max_seq_len
        self.rope_init()

    def rope_init(self):
        theta = 1.0 / (self.base ** (torch.arange(0, self.dim, 2)[: (self.dim // 2)].float()
                                     / self.dim))
        self.register_buffer("theta", theta, persistent=False)
        self.build_rope_cache(self.max_seq_len)

    def build_rope_cache(self, max_seq_len=4096):
        seq_idx = torch.arange(max_seq_len, dtype=self.theta.dtype, device=self.theta.device)
        idx_theta = torch.einsum("i, j -> ij", seq_idx, self.theta).float()
        cache = torch.stack([torch.cos(idx_theta), torch.sin(idx_theta)], dim=-1)
        self.register_buffer("cache", cache, persistent=False)


class Qwen2RotaryPositionalEmbeddings(RotaryPositionalEmbeddings):
    """torchtune/models/qwen2/_positional_embeddings.py: cos and sin concatenated."""

    def build_rope_cache(self, max_seq_len=4096):
        seq_idx = torch.arange(max_seq_len, dtype=self.theta.dtype, device=self.theta.device)
        idx_theta = torch.einsum("i, j -> ij", seq_idx, self.theta).float()
        freqs = torch.cat([idx_theta, idx_theta], dim=-1)
        cache = torch.cat([freqs.cos(), freqs.sin()], dim=-1)
        self.register_buffer("cache", cache, persistent=False)


class Llama3ScaledRoPE(nn.Module):
    """torchtune/models/llama3_1/_position_embeddings.py: ``rope_init`` returns early on
    meta (no buffers there) and scales theta (``apply_scaling``)."""

    def __init__(self, dim, max_seq_len=4096, base=10_000, scale_factor=8, low_freq_factor=1,
                 high_freq_factor=4, old_context_len=8192):
        super().__init__()
        self.dim, self.base, self.max_seq_len = dim, base, max_seq_len
        self.scale_factor, self.low_freq_factor = scale_factor, low_freq_factor
        self.high_freq_factor, self.old_context_len = high_freq_factor, old_context_len
        self.is_cache_built = False
        self.rope_init()

    def rope_init(self):
        freqs = 1.0 / (self.base ** (torch.arange(0, self.dim, 2)[: (self.dim // 2)].float()
                                     / self.dim))
        if freqs.is_meta:
            return
        theta = self.apply_scaling(freqs, self.scale_factor, self.low_freq_factor,
                                   self.high_freq_factor, self.old_context_len)
        self.register_buffer("theta", theta, persistent=False)
        self.build_rope_cache(self.max_seq_len)
        self.is_cache_built = True

    build_rope_cache = RotaryPositionalEmbeddings.build_rope_cache

    def apply_scaling(self, freqs, scale_factor, low_freq_factor, high_freq_factor,
                      old_context_len):
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        new_freqs = []
        for freq in freqs:
            wavelen = 2 * math.pi / freq
            if wavelen < high_freq_wavelen:
                new_freqs.append(freq)
            elif wavelen > low_freq_wavelen:
                new_freqs.append(freq / scale_factor)
            else:
                smooth = (old_context_len / wavelen - low_freq_factor) / (
                    high_freq_factor - low_freq_factor)
                new_freqs.append((1 - smooth) * freq / scale_factor + smooth * freq)
        return torch.tensor(new_freqs, dtype=freqs.dtype, device=freqs.device)


class KVCache(nn.Module):
    """torchtune/modules/kv_cache.py: zero caches and ``cache_pos`` = arange."""

    def __init__(self, batch_size, max_seq_len, num_kv_heads, head_dim, dtype):
        super().__init__()
        shape = (batch_size, num_kv_heads, max_seq_len, head_dim)
        self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype), persistent=False)
        self.register_buffer("cache_pos", torch.arange(0, shape[2]), persistent=False)


class MultiHeadAttention(nn.Module):
    """torchtune/modules/attention.py: the projections it is given, no init of its own."""

    def __init__(self, *, num_kv_heads, head_dim, q_proj, k_proj, v_proj, output_proj,
                 pos_embeddings=None):
        super().__init__()
        self.num_kv_heads, self.head_dim, self.kv_cache = num_kv_heads, head_dim, None
        self.q_proj, self.k_proj, self.v_proj = q_proj, k_proj, v_proj
        self.output_proj, self.pos_embeddings = output_proj, pos_embeddings
        self.q_norm = self.k_norm = None

    def setup_cache(self, batch_size, dtype, max_seq_len):
        self.kv_cache = KVCache(batch_size, max_seq_len, self.num_kv_heads, self.head_dim,
                                dtype)


class FeedForward(nn.Module):
    """torchtune/modules/feed_forward.py: w1 = gate_proj, w2 = down_proj, w3 = up_proj."""

    def __init__(self, *, gate_proj, down_proj, up_proj=None):
        super().__init__()
        self.w1, self.w2, self.w3 = gate_proj, down_proj, up_proj


class TanhGate(nn.Module):
    """torchtune/modules/tanh_gate.py: ``scale`` ``torch.zeros(1)``."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1))


class TransformerSelfAttentionLayer(nn.Module):
    """torchtune/modules/transformer.py."""

    def __init__(self, *, attn, mlp, sa_norm=None, mlp_norm=None, sa_scale=None,
                 mlp_scale=None):
        super().__init__()
        self.attn, self.mlp = attn, mlp
        self.sa_norm, self.mlp_norm = sa_norm or nn.Identity(), mlp_norm or nn.Identity()
        self.sa_scale, self.mlp_scale = sa_scale or nn.Identity(), mlp_scale or nn.Identity()


class TiedLinear:
    """torchtune/modules/tied_linear.py: not an nn.Module; reads the embedding's weight."""

    def __init__(self, tied_module):
        self.tied_module = tied_module

    def __call__(self, x):
        return F.linear(x, self.tied_module.weight)


class TransformerDecoder(nn.Module):
    """torchtune/modules/transformer.py ``TransformerDecoder``."""

    def __init__(self, *, tok_embeddings, layers, norm, output, max_seq_len):
        super().__init__()
        self.tok_embeddings, self.layers, self.norm = tok_embeddings, layers, norm
        self.output, self.max_seq_len = output, max_seq_len

    def setup_caches(self, batch_size, dtype):
        for layer in self.layers:
            layer.attn.setup_cache(batch_size, dtype, self.max_seq_len)


def _lora_a_init_params(x):  # torchtune/modules/peft/lora.py
    nn.init.kaiming_uniform_(x.weight, a=math.sqrt(5))


def _lora_b_init_params(x):
    nn.init.zeros_(x.weight)


class LoRALinear(nn.Module):
    """torchtune/modules/peft/lora.py ``LoRALinear`` (without NF4 quantization)."""

    def __init__(self, in_dim, out_dim, rank, alpha, dropout=0.0, use_bias=False):
        super().__init__()
        self.in_dim, self.out_dim, self.rank, self.alpha = in_dim, out_dim, rank, alpha
        linear = nn.Linear(in_features=in_dim, out_features=out_dim, bias=use_bias)
        self.register_parameter("weight", nn.Parameter(linear.weight))
        self.register_parameter("bias", nn.Parameter(linear.bias) if use_bias else None)
        self.dropout = nn.Identity()
        self.lora_a = nn.Linear(in_features=in_dim, out_features=rank, bias=False)
        self.lora_b = nn.Linear(in_features=rank, out_features=out_dim, bias=False)
        self.initialize_parameters()

    def initialize_parameters(self):
        _lora_a_init_params(self.lora_a)
        _lora_b_init_params(self.lora_b)


class DoRALinear(nn.Module):
    """torchtune/modules/peft/dora.py ``DoRALinear``: ``magnitude`` is ``torch.empty``
    until the recipes call ``initialize_dora_magnitude``."""

    def __init__(self, in_dim, out_dim, rank, alpha, dropout=0.0, use_bias=False):
        super().__init__()
        self.in_dim, self.out_dim, self.scaling = in_dim, out_dim, alpha / rank
        linear = nn.Linear(in_features=in_dim, out_features=out_dim, bias=use_bias)
        self.register_parameter("weight", nn.Parameter(linear.weight))
        self.register_parameter("bias", nn.Parameter(linear.bias) if use_bias else None)
        self.dropout = nn.Identity()
        self.lora_a = nn.Linear(in_features=in_dim, out_features=rank, bias=False)
        self.lora_b = nn.Linear(in_features=rank, out_features=out_dim, bias=False)
        self.magnitude = nn.Parameter(torch.empty(out_dim))
        self.initialize_parameters()

    initialize_parameters = LoRALinear.initialize_parameters

    @torch.no_grad()
    def initialize_dora_magnitude(self):
        base_weight = self.weight.to(self.lora_a.weight.dtype)
        lora_weight = self.lora_b.weight @ self.lora_a.weight
        self.magnitude.copy_(self._get_weight_norm(base_weight, lora_weight))

    def _get_weight_norm(self, weight, lora_weight):
        weight = weight + self.scaling * lora_weight
        return torch.linalg.norm(weight, dim=1).to(weight.dtype)


class CLSEmbedding(nn.Module):
    """torchtune/modules/vision_transformer.py: ``embed_dim**-0.5 * torch.randn``."""

    def __init__(self, embed_dim):
        super().__init__()
        self.weight = nn.Parameter(embed_dim ** -0.5 * torch.randn(embed_dim))


class CLSProjection(nn.Module):
    def __init__(self, embed_dim, cls_output_dim):
        super().__init__()
        self.weight = nn.Parameter(embed_dim ** -0.5 * torch.randn(embed_dim, cls_output_dim))


class TokenPositionalEmbedding(nn.Module):
    """torchtune/models/clip/_position_embeddings.py."""

    def __init__(self, embed_dim, tile_size, patch_size):
        super().__init__()
        n = (tile_size // patch_size) ** 2 + 1
        self.positional_embedding = nn.Parameter(embed_dim ** -0.5 * torch.randn(n, embed_dim))


class TiledTokenPositionalEmbedding(nn.Module):
    def __init__(self, max_num_tiles, embed_dim, tile_size, patch_size):
        super().__init__()
        n, scale = (tile_size // patch_size) ** 2 + 1, embed_dim ** -0.5
        self.local_token_positional_embedding = nn.Parameter(scale * torch.randn(n, embed_dim))
        self.global_token_positional_embedding = nn.Parameter(
            scale * torch.randn(max_num_tiles, max_num_tiles, n, embed_dim))
        self.gate = nn.Parameter(torch.zeros(1))


class TilePositionalEmbedding(nn.Module):
    def __init__(self, max_num_tiles, embed_dim):
        super().__init__()
        self.embedding = nn.Parameter(
            embed_dim ** -0.5 * torch.randn(max_num_tiles, max_num_tiles, 1, embed_dim))
        self.gate = nn.Parameter(torch.zeros(1))


class Fp32LayerNorm(nn.LayerNorm):
    """torchtune/modules/layer_norm.py: an nn.LayerNorm subclass."""


# ------------------------------------------------------ torchtune's builders, in small

DIM, HEADS, KV_HEADS, VOCAB, LAYERS, HIDDEN, SEQ = 64, 4, 2, 300, 3, 160, 48


def llama3(lora=None, kv_cache=False, output_lora=False, scaled_rope=False):
    """torchtune/models/llama3/_component_builders.py ``llama3`` (one RoPE module shared by
    every layer) or, with ``lora`` ("lora"/"dora"), ``lora_llama3`` with LoRA on q_proj,
    v_proj, output_proj and the MLP (one RoPE per layer, as lora_llama3_self_attention
    builds it); ``scaled_rope``: llama3_1's ``Llama3ScaledRoPE``."""
    head_dim = DIM // HEADS
    adapter = {"lora": LoRALinear, "dora": DoRALinear}.get(lora)

    def rope():
        if scaled_rope:
            return Llama3ScaledRoPE(head_dim, max_seq_len=SEQ, base=500_000,
                                    old_context_len=16)
        return RotaryPositionalEmbeddings(head_dim, max_seq_len=SEQ, base=500_000)

    def linear(n_in, n_out, adapted):
        if adapter is not None and adapted:
            return adapter(n_in, n_out, rank=8, alpha=16)
        return nn.Linear(n_in, n_out, bias=False)

    shared = rope()
    layers = nn.ModuleList()
    for _ in range(LAYERS):
        attn = MultiHeadAttention(
            num_kv_heads=KV_HEADS, head_dim=head_dim,
            q_proj=linear(DIM, HEADS * head_dim, True),
            k_proj=linear(DIM, KV_HEADS * head_dim, False),
            v_proj=linear(DIM, KV_HEADS * head_dim, True),
            output_proj=linear(DIM, DIM, True),
            pos_embeddings=rope() if adapter is not None else shared)
        mlp = FeedForward(gate_proj=linear(DIM, HIDDEN, True), down_proj=linear(HIDDEN, DIM, True),
                          up_proj=linear(DIM, HIDDEN, True))
        layers.append(TransformerSelfAttentionLayer(attn=attn, mlp=mlp, sa_norm=RMSNorm(DIM),
                                                    mlp_norm=RMSNorm(DIM)))
    model = TransformerDecoder(tok_embeddings=nn.Embedding(VOCAB, DIM), layers=layers,
                               norm=RMSNorm(DIM), output=linear(DIM, VOCAB, output_lora),
                               max_seq_len=SEQ)
    if kv_cache:
        model.setup_caches(batch_size=2, dtype=torch.float32)
    return model


def qwen2(tied=True):
    """torchtune/models/qwen2/_component_builders.py ``qwen2``: q/k/v with biases,
    Qwen2RotaryPositionalEmbeddings, ``TiedLinear`` output when tied (qwen2 0.5B)."""
    head_dim = DIM // HEADS
    rope = Qwen2RotaryPositionalEmbeddings(head_dim, max_seq_len=SEQ, base=1_000_000.0)
    layers = nn.ModuleList()
    for _ in range(LAYERS):
        attn = MultiHeadAttention(
            num_kv_heads=KV_HEADS, head_dim=head_dim,
            q_proj=nn.Linear(DIM, HEADS * head_dim, bias=True),
            k_proj=nn.Linear(DIM, KV_HEADS * head_dim, bias=True),
            v_proj=nn.Linear(DIM, KV_HEADS * head_dim, bias=True),
            output_proj=nn.Linear(DIM, DIM, bias=False), pos_embeddings=rope)
        mlp = FeedForward(gate_proj=nn.Linear(DIM, HIDDEN, bias=False),
                          down_proj=nn.Linear(HIDDEN, DIM, bias=False),
                          up_proj=nn.Linear(DIM, HIDDEN, bias=False))
        layers.append(TransformerSelfAttentionLayer(attn=attn, mlp=mlp, sa_norm=RMSNorm(DIM),
                                                    mlp_norm=RMSNorm(DIM)))
    embeddings = nn.Embedding(VOCAB, DIM)
    output = TiedLinear(embeddings) if tied else nn.Linear(DIM, VOCAB, bias=False)
    return TransformerDecoder(tok_embeddings=embeddings, layers=layers, norm=RMSNorm(DIM),
                              output=output, max_seq_len=SEQ)


def gemma2():
    """torchtune/models/gemma2/_component_builders.py: GemmaRMSNorm norms and
    ``sa_scale``/``mlp_scale``, ``GemmaNormEmbeddings``, ``TiedLinear``, a final
    ``norm.rms_norm`` (Gemma2FinalNorm)."""
    head_dim = 16
    rope = RotaryPositionalEmbeddings(head_dim, max_seq_len=SEQ, base=10_000)
    layers = nn.ModuleList()
    for _ in range(LAYERS):
        attn = MultiHeadAttention(
            num_kv_heads=KV_HEADS, head_dim=head_dim,
            q_proj=nn.Linear(DIM, HEADS * head_dim, bias=False),
            k_proj=nn.Linear(DIM, KV_HEADS * head_dim, bias=False),
            v_proj=nn.Linear(DIM, KV_HEADS * head_dim, bias=False),
            output_proj=nn.Linear(HEADS * head_dim, DIM, bias=False), pos_embeddings=rope)
        mlp = FeedForward(gate_proj=nn.Linear(DIM, HIDDEN, bias=False),
                          down_proj=nn.Linear(HIDDEN, DIM, bias=False),
                          up_proj=nn.Linear(DIM, HIDDEN, bias=False))
        layers.append(TransformerSelfAttentionLayer(
            attn=attn, mlp=mlp, sa_norm=GemmaRMSNorm(DIM), mlp_norm=GemmaRMSNorm(DIM),
            sa_scale=GemmaRMSNorm(DIM), mlp_scale=GemmaRMSNorm(DIM)))
    embeddings = GemmaNormEmbeddings(VOCAB, DIM)
    final = nn.Module()
    final.rms_norm = GemmaRMSNorm(DIM)
    return TransformerDecoder(tok_embeddings=embeddings, layers=layers, norm=final,
                              output=TiedLinear(embeddings), max_seq_len=SEQ)


def vision():
    """The parts of torchtune's CLIP vision encoder and fusion layers with an init of
    their own (clip/_component_builders.py, vision_transformer.py), with its conv and
    Fp32LayerNorm."""
    model = nn.Module()
    model.conv = nn.Conv2d(3, DIM, kernel_size=4, stride=4, bias=False)
    model.cls_token_embedding = CLSEmbedding(DIM)
    model.token_pos_embedding = TiledTokenPositionalEmbedding(2, DIM, 16, 4)
    model.pre_tile_pos_embed = TilePositionalEmbedding(2, DIM)
    model.plain_pos_embedding = TokenPositionalEmbedding(DIM, 16, 4)
    model.ln_post = Fp32LayerNorm(DIM)
    model.cls_projection = CLSProjection(DIM, 32)
    model.ca_scale = TanhGate()
    return model


def _build_rope_cache(dim, seq, base, layout="stack", scaled=None):
    """torchtune 0.6.1 ``RotaryPositionalEmbeddings.rope_init`` + ``build_rope_cache``
    (torchtune/modules/position_embeddings.py): theta = 1 / base^(2i/dim); the cache
    [seq, dim/2, 2] of cos and sin of position x theta, stacked; "cat": qwen2's and
    phi3's [seq, 2 dim] (cos of [angles, angles], then sin).  ``scaled``: a
    Llama3ScaledRoPE's theta, as its module computes it."""
    theta = 1.0 / (base ** (torch.arange(0, dim, 2)[: (dim // 2)].float() / dim))
    if scaled is not None:
        theta = scaled.apply_scaling(theta, scaled.scale_factor, scaled.low_freq_factor,
                                     scaled.high_freq_factor, scaled.old_context_len)
    angles = torch.einsum("i, j -> ij", torch.arange(seq, dtype=theta.dtype), theta).float()
    if layout == "cat":
        both = torch.cat([angles, angles], dim=-1)
        return theta, torch.cat([both.cos(), both.sin()], dim=-1)
    return theta, torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)


def _meta(build, **kw):
    with torch.device("meta"):
        return build(**kw)


def _reference(build, seed, **kw):
    """The model as torchtune's code makes it on the CPU: its constructors, then the
    recipes' ``initialize_dora_magnitude`` on DoRA layers."""
    torch.manual_seed(seed)
    model = build(**kw)
    for m in model.modules():
        if hasattr(m, "initialize_dora_magnitude"):
            m.initialize_dora_magnitude()
    return model


def _rows(model, scheme="torchtune"):
    return {row["tensor"]: row for row in describe(model, scheme=scheme)}


def _compare(build, scheme="torchtune", **kw):
    """Materialize ``build(**kw)`` from meta and build the reference, over SEEDS; every
    parameter's law agrees (``_agree``), buffers are equal.  Returns the results."""
    plan = _rows(_meta(build, **kw), scheme)
    results = _compare_laws(lambda: _meta(build, **kw), lambda s: _reference(build, s, **kw),
                            scheme, exact_buffers=True)
    assert {row["name"] for row in results} == set(plan)
    return results


# ------------------------------------------------------------------- the laws, per tensor


@pytest.mark.parametrize(("build", "kw"), [
    (llama3, {}), (llama3, {"kv_cache": True}), (qwen2, {}), (qwen2, {"tied": False}),
    (gemma2, {}), (llama3, {"lora": "lora", "output_lora": True}), (llama3, {"lora": "dora"}),
    (vision, {}),
], ids=["llama3", "llama3-kv-cache", "qwen2-tied", "qwen2-untied", "gemma2", "lora_llama3",
        "dora_llama3", "vision-parts"])
def test_every_tensor_has_the_law_torchtune_gives_it(build, kw):
    results = {r["name"]: r for r in _compare(build, **kw)}
    for name, r in results.items():
        if name.endswith(".scale"):  # RMSNorm 1; GemmaRMSNorm and TanhGate 0
            assert r["constant"] == (1.0 if build in (llama3, qwen2) else 0.0), name
        if name.endswith(("lora_b.weight", ".gate")):
            assert r["constant"] == 0.0, name
    if build is qwen2 and kw.get("tied", True):
        assert "output.weight" not in results  # TiedLinear has no tensor of its own
    if build is llama3 and kw.get("kv_cache"):
        assert results["layers.2.attn.kv_cache.cache_pos"]["buffer"] == "equal"


def test_the_laws_in_the_plan():
    rows = _rows(_meta(llama3, lora="dora"))
    bound = 1 / math.sqrt(DIM)
    for name, role in (("layers.0.attn.q_proj.weight", "attn_q"),
                       ("layers.0.attn.k_proj.weight", "attn_k"),
                       ("layers.0.attn.v_proj.weight", "attn_v"),
                       ("layers.0.attn.output_proj.weight", "attn_out"),
                       ("layers.1.mlp.w1.weight", "mlp_gate"),
                       ("layers.1.mlp.w3.weight", "mlp_up"),
                       ("layers.0.attn.q_proj.lora_a.weight", "lora_a")):
        assert rows[name]["role"] == role, (name, rows[name])
        assert rows[name]["bounds"] == pytest.approx((-bound, bound)), name
        assert rows[name]["std"] == pytest.approx(bound / math.sqrt(3)), name
    assert rows["layers.1.mlp.w2.weight"]["role"] == "mlp_out"
    assert rows["layers.1.mlp.w2.weight"]["bounds"] == pytest.approx((-HIDDEN ** -0.5,
                                                                      HIDDEN ** -0.5))
    assert rows["layers.0.attn.q_proj.lora_b.weight"]["law"] == "constant(0)"
    assert rows["layers.0.attn.q_proj.lora_b.weight"]["role"] == "lora_b"
    assert rows["layers.0.attn.q_proj.magnitude"]["law"] == \
        "computed: DoRA magnitude: row norms of layers.0.attn.q_proj.weight"
    assert rows["tok_embeddings.weight"]["law"] == "normal(mean=0, std=1)"
    assert rows["tok_embeddings.weight"]["role"] == "embedding"
    assert rows["output.weight"]["role"] == "readout"
    assert rows["layers.0.sa_norm.scale"]["law"] == "constant(1)"
    assert rows["layers.0.sa_norm.scale"]["role"] == "norm"
    assert rows["layers.0.attn.pos_embeddings.cache"]["law"] == \
        "computed: RoPE cache: RotaryPositionalEmbeddings.rope_init()"
    gemma = _rows(_meta(gemma2))
    assert gemma["layers.0.sa_scale.scale"]["law"] == "constant(0)"
    assert gemma["norm.rms_norm.scale"]["law"] == "constant(0)"
    table = _rows(_meta(vision))
    assert table["cls_projection.weight"]["std"] == pytest.approx(DIM ** -0.5)
    assert table["token_pos_embedding.global_token_positional_embedding"]["role"] == \
        "pos_embedding"
    assert table["ca_scale.scale"]["role"] == "gate"
    assert "lora_b" in str(describe(_meta(llama3, lora="lora"), scheme="torchtune"))


def test_a_feed_forward_without_up_proj_has_a_plain_input_projection():
    model = _meta(llama3)
    model.layers[0].mlp.w3 = None
    rows = _rows(model)
    assert rows["layers.0.mlp.w1.weight"]["role"] == "mlp_in"
    assert rows["layers.1.mlp.w1.weight"]["role"] == "mlp_gate"


# ------------------------------------------------------------------- RoPE and the buffers


@pytest.mark.parametrize(("build", "layout", "base", "head_dim"), [
    (llama3, "stack", 500_000, DIM // HEADS), (qwen2, "cat", 1_000_000.0, DIM // HEADS),
    (gemma2, "stack", 10_000, 16)])
def test_rope_buffers_are_torchtunes_build_rope_cache(build, layout, base, head_dim):
    model = materialize(_meta(build), "cpu", seed=0, scheme="torchtune")
    theta, cache = _build_rope_cache(head_dim, SEQ, base, layout)
    for i in range(LAYERS):
        rope = model.layers[i].attn.pos_embeddings
        assert torch.equal(rope.theta, theta) and torch.equal(rope.cache, cache), i
    assert model.layers[2].attn.pos_embeddings is model.layers[0].attn.pos_embeddings


def test_rope_buffers_of_every_layer_and_a_kv_cache():
    model = materialize(_meta(llama3, lora="lora", kv_cache=True), "cpu", seed=1,
                        scheme="torchtune")
    theta, cache = _build_rope_cache(DIM // HEADS, SEQ, 500_000)
    for layer in model.layers:  # lora_llama3: one RoPE module per layer
        assert torch.equal(layer.attn.pos_embeddings.cache, cache)
        assert torch.equal(layer.attn.pos_embeddings.theta, theta)
        kv = layer.attn.kv_cache
        assert torch.equal(kv.k_cache, torch.zeros(2, KV_HEADS, SEQ, DIM // HEADS))
        assert torch.equal(kv.v_cache, torch.zeros_like(kv.v_cache))
        assert kv.cache_pos.dtype == torch.int64
        assert torch.equal(kv.cache_pos, torch.arange(SEQ))


def test_llama3_scaled_rope_on_cpu_and_on_meta():
    """Llama3ScaledRoPE: on the CPU its buffers are recomputed by its rope_init; built on
    meta it has none (rope_init returns early), and after materialize its rope_init()
    (what torchtune's recipes call) gives torchtune's values."""
    model = init_module(llama3(scaled_rope=True), seed=0, scheme="torchtune")
    rope = model.layers[0].attn.pos_embeddings
    theta, cache = _build_rope_cache(DIM // HEADS, SEQ, 500_000, scaled=rope)
    assert not torch.equal(theta, _build_rope_cache(DIM // HEADS, SEQ, 500_000)[0])
    assert torch.equal(rope.theta, theta) and torch.equal(rope.cache, cache)
    meta = _meta(llama3, scaled_rope=True)
    assert not any(name.endswith(("theta", "cache")) for name, _ in meta.named_buffers())
    materialize(meta, "cpu", seed=0, scheme="torchtune")
    meta.layers[0].attn.pos_embeddings.rope_init()
    assert torch.equal(meta.layers[0].attn.pos_embeddings.cache, cache)


def test_rope_init_is_run_on_a_copy():
    model = _meta(llama3)
    rope = model.layers[0].attn.pos_embeddings
    materialize(model, "cpu", seed=0, scheme="torchtune")
    assert rope.cache.device.type == "cpu" and not hasattr(rope, "is_cache_built")
    assert set(rope._buffers) == {"theta", "cache"}


# ---------------------------------------------------------------------------- LoRA, DoRA


@pytest.mark.parametrize("adapter", ["lora", "dora"])
def test_lora_b_is_zero_and_the_dora_magnitude_is_initialize_dora_magnitude(adapter):
    model = materialize(_meta(llama3, lora=adapter, output_lora=True), "cpu", seed=4,
                        scheme="torchtune")
    layers = [m for m in model.modules() if isinstance(m, (LoRALinear, DoRALinear))]
    assert len(layers) == LAYERS * 6 + 1
    for m in layers:
        assert torch.equal(m.lora_b.weight, torch.zeros_like(m.lora_b.weight))
        bound = 1 / math.sqrt(m.in_dim)
        for w in (m.weight, m.lora_a.weight):
            assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
        if adapter == "dora":
            ours = m.magnitude.detach().clone()
            assert torch.equal(ours, torch.linalg.norm(m.weight.detach(), dim=1))
            m.initialize_dora_magnitude()  # torchtune's own code on our tensors
            assert torch.equal(m.magnitude, ours)


def test_init_module_equals_materialize():
    for build, kw in ((llama3, {"lora": "dora", "kv_cache": True}), (gemma2, {}), (vision, {})):
        built = _tensors(init_module(build(**kw), seed=9, scheme="torchtune"))
        made = _tensors(materialize(_meta(build, **kw), "cpu", seed=9, scheme="torchtune"))
        assert built.keys() == made.keys()
        for name, t in made.items():
            assert torch.equal(t, built[name]), name


def test_tied_embedding_stays_one_tensor():
    model = qwen2()
    assert model.output.tied_module is model.tok_embeddings
    materialize_model = materialize(_meta(qwen2), "cpu", seed=0, scheme="torchtune")
    assert materialize_model.output.tied_module.weight is materialize_model.tok_embeddings.weight
    tied = _meta(qwen2, tied=False)
    tied.output.weight = tied.tok_embeddings.weight  # tied by hand: the embedding's law
    rows = _rows(tied)
    assert "output.weight" not in rows and rows["tok_embeddings.weight"]["std"] == 1.0


def test_a_padding_row_is_zero_as_nn_embedding_makes_it():
    model = _meta(qwen2)
    model.tok_embeddings = nn.Embedding(VOCAB, DIM, padding_idx=3, device="meta")
    materialize(model, "cpu", seed=0, scheme="torchtune")
    assert torch.equal(model.tok_embeddings.weight[3], torch.zeros(DIM))
    assert _rows(_meta(qwen2))["tok_embeddings.weight"]["law"] == "normal(mean=0, std=1)"


# ------------------------------------------------------------------- refusals and options


def test_what_torchtune_leaves_empty_is_refused_naming_it():
    model = _meta(llama3)
    model.position_embedding = nn.Parameter(torch.empty(SEQ, DIM, device="meta"))  # CLIPText
    with pytest.raises(ValueError, match=r"'torchtune' has no rule for "
                                         r"\['position_embedding'\].*rope_init"):
        materialize(model, "cpu", scheme="torchtune")
    assert all(t.is_meta for t in _tensors(model).values())
    materialize(model, "cpu", seed=0,
                scheme=("torchtune", {"overrides": {"position_embedding": "zeros"}}))
    assert torch.equal(model.position_embedding, torch.zeros(SEQ, DIM))


@pytest.mark.parametrize(("scheme", "error", "match"), [
    (("torchtune", {"overrides": ["*.weight"]}), TypeError, "overrides"),
    (("torchtune", {"overrides": {"nowhere.*": "zeros"}}), ValueError, "'nowhere.*'"),
    (("torchtune", {"lora_rank": 8}), ValueError, "no option 'lora_rank'"),
    (("torchtune", {"use_dora": True}), ValueError, "valid options: 'overrides'"),
    (("torchtune", ["overrides"]), TypeError, "options of 'torchtune' must be a dict"),
])
def test_option_errors_are_typed_and_name_the_option(scheme, error, match):
    model = _meta(llama3, lora="dora")
    with pytest.raises(error, match=match):
        materialize(model, "cpu", scheme=scheme)
    assert all(t.is_meta for t in _tensors(model).values())


def test_overrides_layer_over_the_scheme_and_the_magnitude_follows_the_weight():
    scheme = ("torchtune", {"overrides": {"layers.0.attn.q_proj.weight": "ones",
                                          "*.sa_norm.scale": "zeros"}})
    model = materialize(_meta(llama3, lora="dora"), "cpu", seed=0, scheme=scheme)
    q = model.layers[0].attn.q_proj
    assert torch.equal(q.weight, torch.ones_like(q.weight))
    assert torch.equal(q.magnitude, torch.full((DIM,), math.sqrt(DIM)))
    assert torch.equal(model.layers[1].sa_norm.scale, torch.zeros(DIM))


def test_registered_with_its_sources():
    import gpuinit.schemes.torchtune as tt

    assert "torchtune" in scheme_names()
    assert "pytorch/torchtune 0.6.1" in SCHEMES["torchtune"].source
    for cited in ("rms_norm.py", "position_embeddings.py", "build_rope_cache", "lora.py",
                  "_lora_a_init_params", "_lora_b_init_params", "initialize_dora_magnitude",
                  "tied_linear.py", "kv_cache.py", "_component_builders.py"):
        assert cited in tt.__doc__, cited


# ------------------------------------------------------------- torchtune itself (peers)


def _torchtune():
    """Import torchtune, or skip saying why it does not import here."""
    try:
        import torchtune
    except Exception as exc:  # ImportError, or torchao's own failure under a newer torch
        reason = " ".join(str(exc).split())[:160]
        pytest.skip(f"torchtune does not import here ({type(exc).__name__}: {reason}); "
                    "torchtune 0.6.1 imports torchao.dtypes.nf4tensor, which torchao 0.18 no "
                    "longer has, and the torchao releases that have it fail to import with "
                    f"torch {torch.__version__.split('+')[0]}")
    return torchtune


@pytest.mark.peers
@pytest.mark.parametrize("family", ["llama3", "lora_llama3_dora", "qwen2", "gemma2"])
def test_torchtune_builders_match(family):
    _torchtune()
    from torchtune.models.gemma2 import gemma2 as gemma2_builder
    from torchtune.models.llama3 import llama3 as llama3_builder
    from torchtune.models.llama3 import lora_llama3
    from torchtune.models.qwen2 import qwen2 as qwen2_builder

    common = {"vocab_size": VOCAB, "num_layers": LAYERS, "num_heads": HEADS,
              "num_kv_heads": KV_HEADS, "embed_dim": DIM, "max_seq_len": SEQ}
    builders = {
        "llama3": lambda: llama3_builder(**common, intermediate_dim=HIDDEN),
        "lora_llama3_dora": lambda: lora_llama3(
            ["q_proj", "v_proj", "output_proj"], apply_lora_to_mlp=True,
            apply_lora_to_output=True, **common, intermediate_dim=HIDDEN, lora_rank=8,
            lora_alpha=16, use_dora=True),
        "qwen2": lambda: qwen2_builder(**common, intermediate_dim=HIDDEN,
                                       tie_word_embeddings=True),
        "gemma2": lambda: gemma2_builder(**common, head_dim=16, intermediate_dim=HIDDEN),
    }
    results = _compare(builders[family])
    assert results and all("buffer" in r or "constant" in r or r["p"] > 1e-4 for r in results)
