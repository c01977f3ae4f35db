"""scheme="hf" for the recurrent LMs (RWKV, RecurrentGemma) and the older LMs (OpenAI
GPT, XLNet, the BERT-style encoders built as causal LMs, the Bart-style seq2seq
models) against transformers' own ``_init_weights`` (marked ``peers``), by the
comparison of :mod:`tests.test_hf_families`: tiny configs built in code, six seeds
of ``from_config`` against six of the meta model materialized by scheme="hf", each
tensor's law checked (constants and computed values bit for bit), then the forward
pass of the materialized model against the normally built one."""

import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("scipy.stats")
from gpuinit.torch import describe, materialize  # noqa: E402

from .test_hf_families import _S, _Made, check_forward, compare_built  # noqa: E402

pytestmark = pytest.mark.peers
transformers.logging.set_verbosity_error()

_BART = {"vocab_size": 96, "d_model": 32, "encoder_layers": 2, "decoder_layers": 2,
         "encoder_attention_heads": 4, "decoder_attention_heads": 4, "encoder_ffn_dim": 64,
         "decoder_ffn_dim": 64, "max_position_embeddings": 64, "pad_token_id": 1}
_BERT = {**_S, "pad_token_id": 1, "is_decoder": True, "initializer_range": 0.05}


def _configs():
    t = transformers
    causal, seq2seq = t.AutoModelForCausalLM, t.AutoModelForSeq2SeqLM
    return {
        # three layers: the layer ratios of RWKV's time values take three values
        "rwkv": (causal, lambda: t.RwkvConfig(
            vocab_size=96, hidden_size=32, attention_hidden_size=32, intermediate_size=64,
            num_hidden_layers=3, context_length=64)),
        "rwkv-tied": (causal, lambda: t.RwkvConfig(
            vocab_size=96, hidden_size=32, attention_hidden_size=32, intermediate_size=48,
            num_hidden_layers=2, context_length=64, tie_word_embeddings=True)),
        # block types (recurrent, recurrent, attention): both temporal blocks
        "recurrent_gemma": (causal, lambda: t.RecurrentGemmaConfig(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
            num_attention_heads=4, lru_width=48, attention_window_size=8, pad_token_id=0,
            w_init_variance_scale=0.5)),
        "xlnet": (causal, lambda: t.XLNetConfig(vocab_size=96, d_model=32, n_layer=2, n_head=4,
                                                d_inner=64, initializer_range=0.05)),
        "openai-gpt": (causal, lambda: t.OpenAIGPTConfig(
            vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=64,
            initializer_range=0.05)),
        "roberta": (causal, lambda: t.RobertaConfig(**_BERT)),
        "camembert": (causal, lambda: t.CamembertConfig(**_BERT)),
        "xlm-roberta": (causal, lambda: t.XLMRobertaConfig(**_BERT)),
        "xlm-roberta-xl": (causal, lambda: t.XLMRobertaXLConfig(**_BERT)),
        "roberta-prelayernorm": (causal, lambda: t.RobertaPreLayerNormConfig(**_BERT)),
        "xmod": (causal, lambda: t.XmodConfig(**_BERT, languages=["en_XX", "de_DE"],
                                              default_language="en_XX")),
        "ernie": (causal, lambda: t.ErnieConfig(**_BERT)),
        "roc_bert": (causal, lambda: t.RoCBertConfig(
            **_BERT, pronunciation_vocab_size=24, shape_vocab_size=24,
            pronunciation_embed_dim=16, shape_embed_dim=16)),
        "megatron-bert": (causal, lambda: t.MegatronBertConfig(**_BERT)),
        "big_bird": (causal, lambda: t.BigBirdConfig(**_BERT, attention_type="original_full")),
        "bert-generation": (causal, lambda: t.BertGenerationConfig(**_BERT)),
        "roformer": (causal, lambda: t.RoFormerConfig(**_BERT, embedding_size=32)),
        "data2vec-text": (causal, lambda: t.Data2VecTextConfig(**_BERT)),
        "electra": (causal, lambda: t.ElectraConfig(**_BERT, embedding_size=16)),
        "rembert": (causal, lambda: t.RemBertConfig(
            **_BERT, input_embedding_size=16, output_embedding_size=24)),
        "blenderbot-small": (seq2seq, lambda: t.BlenderbotSmallConfig(**_BART)),
        "plbart": (seq2seq, lambda: t.PLBartConfig(**_BART)),
        "mvp": (seq2seq, lambda: t.MvpConfig(**_BART)),
        "led": (seq2seq, lambda: t.LEDConfig(
            **{k: v for k, v in _BART.items() if k != "max_position_embeddings"},
            max_encoder_position_embeddings=64, max_decoder_position_embeddings=64,
            attention_window=[4, 4])),
        "bigbird_pegasus": (seq2seq, lambda: t.BigBirdPegasusConfig(
            **_BART, attention_type="original_full")),
        "fsmt": (seq2seq, lambda: t.FSMTConfig(
            langs=["en", "de"], src_vocab_size=96, tgt_vocab_size=96, d_model=32,
            encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
            max_position_embeddings=64, pad_token_id=1, init_std=0.05)),
        "nllb_moe": (seq2seq, lambda: t.NllbMoeConfig(
            **_BART, num_experts=4, expert_capacity=8, encoder_sparse_step=2,
            decoder_sparse_step=2)),
        "xlm-sinusoidal": (causal, lambda: t.XLMConfig(
            vocab_size=96, emb_dim=32, n_layers=2, n_heads=4, max_position_embeddings=64,
            sinusoidal_embeddings=True, embed_init_std=0.1, init_std=0.05, causal=True)),
        "flaubert": (_Made("FlaubertWithLMHeadModel"), lambda: t.FlaubertConfig(
            vocab_size=96, emb_dim=32, n_layers=2, n_heads=4, max_position_embeddings=64,
            embed_init_std=0.2, init_std=0.05, causal=True)),
        "cpmant": (causal, lambda: t.CpmAntConfig(
            vocab_size=96, hidden_size=32, num_attention_heads=4, dim_head=8, dim_ff=64,
            num_hidden_layers=2, prompt_length=4, prompt_types=4, segment_types=4,
            position_bias_num_buckets=16, position_bias_max_distance=64, init_std=0.3)),
        "gpt_neox_japanese": (causal, lambda: t.GPTNeoXJapaneseConfig(
            vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_multiple_size=2, max_position_embeddings=64)),
        # hash_seed: LSH attention draws its random rotations from it, not torch's RNG
        "reformer": (causal, lambda: t.ReformerConfig(
            vocab_size=96, hidden_size=32, num_attention_heads=2, attention_head_size=16,
            attn_layers=["local", "lsh"], axial_pos_shape=[8, 8], axial_pos_embds_dim=[16, 16],
            max_position_embeddings=64, feed_forward_size=64, local_attn_chunk_length=4,
            lsh_attn_chunk_length=4, num_buckets=4, is_decoder=True, axial_norm_std=0.5,
            hash_seed=0, pad_token_id=0)),
        "modernbert_decoder": (causal, lambda: t.ModernBertDecoderConfig(
            vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=64, pad_token_id=1,
            initializer_range=0.05, local_attention=8, global_attn_every_n_layers=2)),
    }


FAMILIES = list(_configs())


def _build(family, meta=False, seed=0):
    auto, config = _configs()[family]
    if meta:
        with torch.device("meta"):
            return _all_on_meta(auto.from_config(config()))
    torch.manual_seed(seed)
    return auto.from_config(config())


def _all_on_meta(model):
    """Move to meta the parameters that a constructor made with ``torch.FloatTensor``
    (XLNet's attention tensors and ``mask_emb``), which ignores ``torch.device("meta")``
    and allocates them uninitialized; materialize would keep them as built."""
    for module in model.modules():
        for name, p in module._parameters.items():
            if p is not None and not p.is_meta:
                module._parameters[name] = torch.nn.Parameter(p.to("meta"), p.requires_grad)
    return model


def _rows(family):
    return {r["tensor"]: r for r in describe(_build(family, meta=True), scheme="hf")}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_tensor_has_the_law_of_the_familys_own_init(family):
    mismatches = {n: why for n, why in compare_built(
        lambda **kw: _build(family, **kw)).items() if why is not None}
    assert not mismatches, mismatches


@pytest.mark.parametrize("family", FAMILIES)
def test_a_materialized_model_computes_what_a_normally_built_one_does(family):
    check_forward(lambda **kw: _build(family, **kw))


def test_rwkv_time_values_follow_the_layer_index_bit_for_bit():
    reference = _build("rwkv", seed=0)
    model = materialize(_build("rwkv", meta=True), "cpu", seed=3, scheme="hf")
    names = ("time_decay", "time_first", "time_mix_key", "time_mix_value",
             "time_mix_receptance")
    for layer in range(3):
        for block, tensors in (("attention", names),
                               ("feed_forward", ("time_mix_key", "time_mix_receptance"))):
            for name in tensors:
                path = f"rwkv.blocks.{layer}.{block}.{name}"
                assert torch.equal(model.get_parameter(path), reference.get_parameter(path)), \
                    path
    # The layers differ: the values are computed from each layer's index.
    assert not torch.equal(model.rwkv.blocks[0].attention.time_decay,
                           model.rwkv.blocks[2].attention.time_decay)
    rows = _rows("rwkv")
    assert rows["head.weight"]["law"] == f"orthogonal(gain={0.5 * math.sqrt(3):.4g})"
    assert rows["rwkv.embeddings.weight"]["law"] == f"orthogonal(gain={1e-4 * math.sqrt(96):.4g})"
    assert rows["rwkv.blocks.0.feed_forward.key.weight"]["law"] == "orthogonal(gain=1.414)"
    assert rows["rwkv.blocks.0.attention.time_first"]["law"] == "constant(1)"


def test_rwkv_with_one_layer_is_refused_as_its_init_divides_by_zero():
    config = transformers.RwkvConfig(vocab_size=96, hidden_size=32, num_hidden_layers=1)
    with torch.device("meta"):
        model = transformers.RwkvForCausalLM(config)
    with pytest.raises(ValueError, match=r"time_decay .*ZeroDivisionError"):
        describe(model, scheme="hf")


def test_recurrent_gemma_laws_read_the_config():
    rows = _rows("recurrent_gemma")
    s = math.sqrt(0.5 / 4)  # w_init_variance_scale / conv1d_width
    final = 2.0 / 3  # final_w_init_variance_scale
    block = "model.layers.0.temporal_block"
    assert rows[f"{block}.conv_1d.weight"]["std"] == pytest.approx(s)
    assert rows["model.layers.0.mlp_block.down_proj.weight"]["std"] == pytest.approx(s)
    assert rows["model.embed_tokens.weight"]["law"].endswith("row 0 zero")
    assert rows[f"{block}.linear_x.weight"]["std"] == pytest.approx(math.sqrt(1 / 32))
    assert rows[f"{block}.linear_out.weight"]["std"] == pytest.approx(math.sqrt(final / 48))
    assert rows[f"{block}.rg_lru.input_gate_weight"]["std"] == pytest.approx(
        math.sqrt(0.5 / (48 // 4)))
    assert rows["model.layers.2.temporal_block.o_proj.weight"]["std"] == pytest.approx(
        math.sqrt(final / 32))
    low, high = rows[f"{block}.rg_lru.recurrent_param"]["bounds"]
    assert low == pytest.approx(math.log(0.999 ** -1 - 1), rel=1e-6)
    assert high == pytest.approx(math.log(0.9 ** -1 - 1), rel=1e-6)
    assert rows["model.final_norm.weight"]["law"] == "constant(0)"
    assert rows["model.normalizer"]["law"] == f"constant({math.sqrt(32):g})"


def test_openai_gpt_conv1d_keeps_its_constructor_std_not_initializer_range():
    rows = _rows("openai-gpt")
    assert rows["transformer.h.0.attn.c_attn.weight"]["std"] == 0.02
    assert rows["transformer.tokens_embed.weight"]["std"] == 0.05
    assert rows["transformer.h.0.attn.bias"]["law"] == "computed: causal mask: tril(ones)"


def test_xlnet_attention_tensors_read_initializer_range():
    rows = _rows("xlnet")
    for name in ("q", "r", "r_w_bias", "seg_embed"):
        assert rows[f"transformer.layer.0.rel_attn.{name}"]["std"] == 0.05, name
    assert rows["transformer.mask_emb"]["std"] == 0.05


def test_an_auxiliary_model_class_of_a_covered_family_is_covered_too():
    # XLNet's question-answering head is built of generic Linear/LayerNorm modules.
    config = transformers.XLNetConfig(vocab_size=96, d_model=32, n_layer=2, n_head=4,
                                      d_inner=64, initializer_range=0.05)
    mismatches = {n: why for n, why in compare_built(lambda meta=False, seed=0: _made(
        "XLNetForQuestionAnswering", config, meta, seed)).items() if why is not None}
    assert not mismatches, mismatches


def _made(name, config, meta, seed):
    if meta:
        with torch.device("meta"):
            return _all_on_meta(_Made(name).from_config(config))
    torch.manual_seed(seed)
    return _Made(name).from_config(config)
