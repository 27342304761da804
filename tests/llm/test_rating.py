"""SelectIT rating probabilities: prefix-cached, left-padded batches equal one-example-at-a-time passes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from data_selection.llm.rating import RatingScorer, rating_token_ids

WORDS = (
    "<pad> <unk> </s> 1 2 3 4 5 Rate the response from to Instruction Response The answer is : \n "
    "name a fruit apple explain gravity masses attract force by which what two plus four five please"
).split(" ")


def _tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(dict.fromkeys(WORDS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split("\n", "isolated"), pre_tokenizers.Whitespace()])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", eos_token="</s>")


@pytest.fixture(scope="module")
def scorer_parts():
    tokenizer = _tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0,
    )
    model = LlamaForCausalLM(config).eval()
    return model, tokenizer


PAIRS = [
    ("name a fruit", "apple"),
    ("explain gravity please", "gravity is the force by which masses attract " * 3),
    ("what is two plus two", "five"),
    ("name a fruit please", "apple apple"),
    ("explain gravity", "masses attract"),
]
PROMPT = "Rate the response from 1 to 5"


def test_rating_token_ids_come_from_the_tokenizer(scorer_parts):
    _, tokenizer = scorer_parts
    assert rating_token_ids(tokenizer) == [tokenizer.convert_tokens_to_ids(str(k)) for k in range(1, 6)]
    with pytest.raises(ValueError, match="rating 6"):
        rating_token_ids(tokenizer, levels=6)  # "6" is unknown to this vocabulary


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_batched_with_prefix_cache_equals_one_at_a_time(scorer_parts, batch_size):
    model, tokenizer = scorer_parts
    scorer = RatingScorer(model, tokenizer, max_length=200)
    batched = scorer.probabilities(PROMPT, PAIRS, batch_size=batch_size)
    reference = scorer.reference_probabilities(PROMPT, PAIRS)
    assert batched.failures == {} and batched.truncated == 0
    np.testing.assert_allclose(batched.probabilities, reference, rtol=1e-4, atol=1e-7)
    # independent reference: full vocabulary softmax of a plain forward pass on the concatenated ids
    prefix = scorer.prefix_ids(PROMPT)
    ids = prefix + scorer.encode(len(prefix), *PAIRS[1]).ids
    logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    expected = torch.softmax(logits, -1)[rating_token_ids(tokenizer)].detach().numpy()
    np.testing.assert_allclose(batched.probabilities[1], expected, rtol=1e-4, atol=1e-7)


def test_long_examples_are_truncated_from_the_response_end_and_counted(scorer_parts):
    model, tokenizer = scorer_parts
    scorer = RatingScorer(model, tokenizer, max_length=30)
    prefix = scorer.prefix_ids(PROMPT)
    encoded = scorer.encode(len(prefix), *PAIRS[1])
    assert encoded.truncated and len(prefix) + len(encoded.ids) <= 30
    tail = tokenizer("\nThe answer is: \n", add_special_tokens=False)["input_ids"]
    assert encoded.ids[-len(tail) :] == tail  # the question to the rater is never cut
    result = scorer.probabilities(PROMPT, PAIRS, batch_size=2)
    assert result.truncated == sum(scorer.encode(len(prefix), *p).truncated for p in PAIRS) >= 1
    assert not np.isnan(result.probabilities).any()


def test_a_failed_example_is_reported_and_does_not_shift_the_others(scorer_parts, monkeypatch):
    model, tokenizer = scorer_parts
    scorer = RatingScorer(model, tokenizer, max_length=200)
    reference = scorer.reference_probabilities(PROMPT, PAIRS)
    bad_ids = scorer.prefix_ids(PROMPT)
    bad_ids = scorer.encode(len(bad_ids), *PAIRS[2]).ids
    original = scorer._batch

    def flaky(cache, prefix_len, examples):
        if any(e == bad_ids for e in examples):
            raise RuntimeError("simulated out of memory")
        return original(cache, prefix_len, examples)

    monkeypatch.setattr(scorer, "_batch", flaky)
    result = scorer.probabilities(PROMPT, PAIRS, batch_size=5)
    assert list(result.failures) == [2] and "simulated out of memory" in result.failures[2]
    assert np.isnan(result.probabilities[2]).all()
    keep = [0, 1, 3, 4]
    np.testing.assert_allclose(result.probabilities[keep], reference[keep], rtol=1e-4, atol=1e-7)


def test_prompt_that_cannot_fit_is_a_failure_not_a_crash(scorer_parts):
    model, tokenizer = scorer_parts
    scorer = RatingScorer(model, tokenizer, max_length=12)  # prefix + fixed tail already exceed 12 tokens
    result = scorer.probabilities(PROMPT, PAIRS[:2], batch_size=2)
    assert set(result.failures) == {0, 1}
    assert all("exceeds max_length" in r for r in result.failures.values())
