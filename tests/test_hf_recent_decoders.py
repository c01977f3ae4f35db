"""scheme="hf" for the recent decoder families of
:mod:`gpuinit.schemes.hf_recent_decoders` against transformers' own ``_init_weights``
(marked ``peers``), by the comparison of :mod:`tests.test_hf_families`: tiny configs
built in code, six seeds of ``from_config`` against six of the meta model
materialized by scheme="hf", each tensor's law checked (constants and computed
buffers bit for bit), then the forward pass against the normally built model."""

import math

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("scipy.stats")
from gpuinit.torch import describe  # noqa: E402

from .test_hf_families import _S, check_forward, compare_built  # noqa: E402

pytestmark = pytest.mark.peers
transformers.logging.set_verbosity_error()

# token ids inside the tiny vocabulary (the configs' defaults lie beyond it)
_IDS = {"bos_token_id": 2, "eos_token_id": 3}
_MOE = {"num_key_value_heads": 2, "num_experts_per_tok": 2}
_MLA = {"kv_lora_rank": 16, "q_lora_rank": 16, "qk_rope_head_dim": 4, "qk_nope_head_dim": 4,
        "v_head_dim": 8}
_NO_FFN = {k: v for k, v in _S.items() if k != "intermediate_size"}


def _configs():
    t = transformers
    return {
        "mellum": lambda: t.MellumConfig(**_S, **_MOE, num_local_experts=4,
                                         moe_intermediate_size=16, head_dim=8, sliding_window=8),
        "laguna": lambda: t.LagunaConfig(
            **_S, **_MOE, num_experts=4, moe_intermediate_size=16,
            shared_expert_intermediate_size=16, head_dim=8, sliding_window=8),
        "flint": lambda: t.FlintConfig(
            **_S, **_MOE, num_experts=4, moe_intermediate_size=16,
            shared_expert_intermediate_size=16, head_dim=8, sliding_window=8,
            mlp_only_layers=[0], initializer_range=0.05),
        "kolibri1": lambda: t.Kolibri1Config(
            **_NO_FFN, **_MOE, num_local_experts=4, moe_intermediate_size=16,
            shared_expert_intermediate_size=16, head_dim=8, sliding_window=8),
        "mimo_v2_flash": lambda: t.MiMoV2FlashConfig(
            **_S, **_MOE, n_routed_experts=4, moe_intermediate_size=16, head_dim=8,
            v_head_dim=8, sliding_window=8),
        "axk1": lambda: t.AXK1Config(
            **{**_S, **_MOE, "num_key_value_heads": 4}, **_IDS, n_routed_experts=4,
            n_shared_experts=1, moe_intermediate_size=16, n_group=2, topk_group=1, **_MLA),
        "axk2": lambda: t.AXK2Config(
            **{**_S, **_MOE, "num_key_value_heads": 4}, **_IDS, n_routed_experts=4,
            n_shared_experts=1, moe_intermediate_size=16, index_topk=8, index_head_dim=8,
            index_n_heads=2, gated_norm_rank=4, **_MLA),
        "aria_text": lambda: t.AriaTextConfig(
            **_S, num_key_value_heads=2, moe_num_experts=4, moe_topk=2, moe_intermediate_size=16,
            moe_num_shared_experts=1, initializer_range=0.05),
        "glm_moe_dsa": lambda: t.GlmMoeDsaConfig(
            **{**_S, **_MOE, "num_key_value_heads": 4}, n_routed_experts=4, n_shared_experts=1,
            moe_intermediate_size=16, first_k_dense_replace=1, n_group=2, topk_group=1,
            index_topk=8, index_head_dim=8, index_n_heads=2, **_MLA),
        "beam": lambda: t.BeamConfig(**_S, **_MOE, num_experts=4, moe_intermediate_size=16,
                                     head_dim=8, sliding_window=8, n_group=2, topk_group=1),
        "ergo": lambda: t.ErgoConfig(
            **_NO_FFN, num_key_value_heads=2, first_dense_intermediate_size=64,
            num_dense_blocks=1, moe_intermediate_size=16, shared_intermediate_size=16,
            num_experts=4, num_experts_per_tok=2, sliding_window=8,
            global_attention_every_n_layers=2),
        "dory": lambda: t.DoryConfig(
            **{**_S, "num_hidden_layers": 3}, num_key_value_heads=2, head_dim=8,
            sliding_window=8, n_input_layers=1, n_recurrent_layers=1, n_output_layers=1,
            n_recurrent_loops=2),
        "lara_mini": lambda: t.LaraMiniConfig(
            **_NO_FFN, num_key_value_heads=2, head_dim=8, linear_key_head_dim=8,
            linear_value_head_dim=8, linear_num_key_heads=2, linear_num_value_heads=4,
            moe_intermediate_size=16, shared_expert_intermediate_size=16, num_experts=4,
            num_experts_per_tok=2, sliding_window=8, eos_token_id=3),
        "youtu": lambda: t.YoutuConfig(**{**_S, "num_key_value_heads": 4}, **_MLA, **_IDS,
                                       pad_token_id=1),
        # its cache holds num_layers_per_stack·H_cycles·(L_cycles + 1) layers
        "hrm_text": lambda: t.HrmTextConfig(**{**_S, "num_hidden_layers": 6}, head_dim=8,
                                            H_cycles=2, L_cycles=2, L_bp_cycles=[1],
                                            num_layers_per_stack=1),
        "lfm3": lambda: t.Lfm3Config(**_S, **_IDS, num_key_value_heads=2, head_dim=8,
                                     sliding_window=8, pad_token_id=1),
    }


FAMILIES = list(_configs())


def _build(family, meta=False, seed=0):
    config = _configs()[family]()
    if meta:
        with torch.device("meta"):
            return transformers.AutoModelForCausalLM.from_config(config)
    torch.manual_seed(seed)
    return transformers.AutoModelForCausalLM.from_config(config)


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


def test_the_laws_read_the_config():
    flint = _rows("flint")
    assert flint["model.layers.1.mlp.experts.gate_up_proj"]["std"] == 0.05
    assert flint["model.layers.0.self_attn.sinks"]["std"] == 0.05
    youtu = _rows("youtu")
    embedding = youtu["model.embed_tokens.weight"]
    assert embedding["std"] == pytest.approx(_configs()["youtu"]().embedding_initializer_range)
    assert embedding["law"].endswith("row 1 zero")
    lara = _rows("lara_mini")
    low, high = lara["model.layers.0.linear_attn.A_log"]["bounds"]
    assert (low, high) == pytest.approx((0.0, math.log(16.0)))
