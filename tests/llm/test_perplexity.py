"""Batched response perplexity equals the one-at-a-time value and an independent computation; the selector training
records P0 before training and one column per epoch, leaving the selector untouched."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data_selection.llm.sentence_embeddings import clustering_text
from data_selection.llm.models import IGNORE_INDEX, CausalLM
from data_selection.llm.perplexity import response_perplexities, train_recording_perplexities

transformers = pytest.importorskip("transformers")

V, PAD = 48, 0


@pytest.fixture()
def tiny():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, initializer_range=0.3, pad_token_id=PAD,
    )
    return transformers.LlamaForCausalLM(config).eval()


def _examples(n: int, seed: int = 0) -> list[dict]:
    """Random sequences of different lengths: a prompt (labels -100) then a response (labelled)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        prompt, response = int(rng.integers(1, 8)), int(rng.integers(1, 9))
        ids = rng.integers(1, V, size=prompt + response).tolist()
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return out


def _by_hand(model, example) -> float:
    """exp(mean over response tokens of -log p(token | prefix)), one token at a time from log-softmax."""
    ids = torch.tensor([example["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
    nll = [-float(logp[t - 1, tok]) for t, (tok, lab) in enumerate(zip(example["input_ids"], example["labels"]))
           if t > 0 and lab != IGNORE_INDEX]
    return math.exp(sum(nll) / len(nll))


def test_batched_perplexity_equals_one_at_a_time_and_by_hand(tiny):
    examples = _examples(11)
    batched = response_perplexities(tiny, examples, PAD, batch_size=4)
    single = np.array([response_perplexities(tiny, [e], PAD, batch_size=1)[0] for e in examples])
    hand = np.array([_by_hand(tiny, e) for e in examples])
    np.testing.assert_allclose(batched, single, rtol=1e-6)
    np.testing.assert_allclose(batched, hand, rtol=1e-6)
    assert (batched > 1).all()
    assert not tiny.training


def test_padding_value_and_batch_composition_do_not_matter(tiny):
    examples = _examples(6, seed=1)
    a = response_perplexities(tiny, examples, PAD, batch_size=6)
    b = response_perplexities(tiny, examples, 7, batch_size=3)  # another pad id: masked, so no effect
    np.testing.assert_allclose(a, b, rtol=1e-5)


def test_an_example_without_response_tokens_is_refused(tiny):
    with pytest.raises(ValueError, match="no labelled"):
        response_perplexities(tiny, [{"input_ids": [1, 2, 3], "labels": [IGNORE_INDEX] * 3}], PAD)


class _Tok:
    pad_token_id = PAD


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_selector_training_records_p0_and_every_epoch(tiny, finetune):
    examples = _examples(8, seed=2)
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    p0 = response_perplexities(tiny, examples, PAD)
    params = {"epochs": 3, "learning_rate": 5e-3, "lr_scheduler": "constant", "warmup_ratio": 0.0, "weight_decay": 0.0,
              "batch_size": 4, "gradient_accumulation_steps": 1, "seed": 0, "logging_steps": 1}
    lora = {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]}
    ppl, summary = train_recording_perplexities(CausalLM(tiny, _Tok(), "tiny"), examples, params, finetune=finetune,
                                                lora_params=lora, eval_batch_size=3)
    assert ppl.shape == (8, 4)
    np.testing.assert_allclose(ppl[:, 0], p0, rtol=1e-6)  # P0: before any step
    assert ppl[:, 3].mean() < ppl[:, 0].mean()  # training on the pool lowers its perplexity
    assert summary["epochs"] == 3 and summary["finetune"] == finetune
    after = tiny.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the selector itself is untouched


def test_clustering_text_is_the_official_format():
    messages = [{"role": "user", "content": " Add 2 and 3.\n "}, {"role": "assistant", "content": " 5 "}]
    assert clustering_text(messages) == "Instruction: Add 2 and 3. Response: 5"
    with pytest.raises(ValueError):
        clustering_text([{"role": "user", "content": "x"}])
