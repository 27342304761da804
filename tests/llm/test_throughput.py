"""FLOP counts and the floor report of a per-example pass, against hand-computed values."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from data_selection.llm import throughput  # noqa: E402


@pytest.mark.parametrize("tied", [True, False])
def test_decoder_flop_counts_by_hand(tied):
    config = transformers.LlamaConfig(
        vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64, tie_word_embeddings=tied,
    )
    model = transformers.LlamaForCausalLM(config)
    # per layer: q 16x16, k 16x8, v 16x8, o 16x16, gate/up/down 3 x 16x32, two RMSNorms of 16; final norm 16
    per_layer = 256 + 128 + 128 + 256 + 3 * 512 + 2 * 16
    body, head = throughput.decoder_flop_counts(model)
    assert head == 50 * 16
    assert body == 2 * per_layer + 16
    peft = pytest.importorskip("peft")
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    assert throughput.decoder_flop_counts(wrapped) == (body, head)  # LoRA's own parameters are not counted


def test_pass_report_arithmetic(monkeypatch):
    monkeypatch.setattr(throughput, "gemm_flops_per_s", lambda: 1e9)
    report = throughput.pass_report(seconds=4.0, tokens=800, padded_tokens=1000, flop=2e9)
    # floor: 2e9 FLOP at 1e9 FLOP/s = 2 s for 800 tokens -> 400 tokens/s; achieved 200 tokens/s -> half the floor
    assert report == {"tokens_per_s": 200.0, "padding_fraction": 0.2, "gflop_per_s": 0.5,
                      "floor_tokens_per_s": 400.0, "floor_share": 0.5}


def test_gemm_rate_is_positive_and_cached():
    rate = throughput.gemm_flops_per_s()
    assert rate > 1e8 and throughput.gemm_flops_per_s() == rate
