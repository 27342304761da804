"""SelectIT rating probabilities: one-string prompts, prefix-cached batches, and truncation that cuts the
instruction before the response.

Two offline tokenizers: a word-level one (one token per word, so cut counts can be computed by hand) and a
small byte-level BPE (decodes to the exact text, and splits ``"\\n\\n"`` differently alone than before
``"Instruction:"``, like SmolLM2's GPT-2-style tokenizer).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from data_selection.llm.models import CausalLM
from data_selection.llm.rating import RatingScorer, rating_prompt_text, rating_token_ids, truncation_report

NUMBERED = [f"w{i}" for i in range(60)]
WORDS = (
    "<pad> <unk> </s> 1 2 3 4 5 Rate the response from to Instruction Response The answer is : \n "
    "name a fruit apple explain gravity masses attract force by which what two plus four five please"
).split(" ") + NUMBERED
PROMPT = "Rate the response from 1 to 5"  # 7 word-level tokens
# word-level fixed tokens (the pre-tokenizer drops newlines): prompt 7 + "Instruction" ":" + "Response" ":" +
# "The" "answer" "is" ":"
FIXED_WORD_TOKENS = 7 + 2 + 2 + 4

PAIRS = [
    ("name a fruit", "apple"),
    ("explain gravity please", "gravity is the force by which masses attract " * 3),
    ("what is two plus two", "five"),
    ("name a fruit please", "apple apple"),
    ("explain gravity", "masses attract"),
]


def _word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(dict.fromkeys(WORDS))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split("\n", "isolated"), pre_tokenizers.Whitespace()])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", eos_token="</s>")


def _bpe_tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420, special_tokens=["<pad>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    corpus = [rating_prompt_text(PROMPT, i, r) for i, r in PAIRS] + [" ".join(NUMBERED)] * 3 + ["end of a paragraph\n\n"] * 20
    core.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>")


def _model(tokenizer) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, pad_token_id=0,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def scorer_parts():
    tokenizer = _word_tokenizer()
    return _model(tokenizer), tokenizer


@pytest.fixture(scope="module")
def bpe_parts():
    tokenizer = _bpe_tokenizer()
    return _model(tokenizer), tokenizer


def _words(prefix: str, n: int) -> str:
    return " ".join(f"w{i}" for i in range(n)) if prefix == "w" else " ".join([prefix] * n)


def test_rating_token_ids_come_from_the_tokenizer(scorer_parts):
    _, tokenizer = scorer_parts
    assert rating_token_ids(tokenizer) == [tokenizer.convert_tokens_to_ids(str(k)) for k in range(1, 6)]
    with pytest.raises(ValueError, match="rating 6"):
        rating_token_ids(tokenizer, levels=6)  # "6" is unknown to this vocabulary


def test_prompt_text_is_the_official_format():
    expected = "Rate it.\n\nInstruction:Say hi\nResponse:hi\nThe answer is: \n"
    assert rating_prompt_text("Rate it.\n", "Say hi", "hi") == expected  # a readlines() line keeps its "\n"
    assert rating_prompt_text("Rate it.", "Say hi", "hi", separator="\n") == expected.replace("\n\n", "\n", 1)


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_batched_with_prefix_cache_equals_one_at_a_time(scorer_parts, batch_size):
    model, tokenizer = scorer_parts
    scorer = RatingScorer(model, tokenizer, max_length=200)
    batched = scorer.probabilities(PROMPT, PAIRS, batch_size=batch_size)
    reference = scorer.reference_probabilities(PROMPT, PAIRS)
    assert batched.failures == {} and batched.truncated == 0
    np.testing.assert_allclose(batched.probabilities, reference, rtol=1e-4, atol=1e-7)


def test_one_string_tokenisation_with_a_boundary_merge_equals_the_cached_batches(bpe_parts):
    """With byte-level BPE, ``R + "\\n\\n"`` alone ends in one "\\n\\n" token but the whole prompt has two "\\n"
    tokens: the cache must only hold the tokens the whole-string tokenisation really starts with."""
    model, tokenizer = bpe_parts
    scorer = RatingScorer(model, tokenizer, max_length=400)
    alone = scorer.prefix_ids(PROMPT)
    whole = tokenizer(rating_prompt_text(PROMPT, *PAIRS[0]), add_special_tokens=False)["input_ids"]
    assert whole[: len(alone)] != alone and whole[: len(alone) - 1] == alone[:-1]  # the boundary really differs
    result = scorer.probabilities(PROMPT, PAIRS, batch_size=3)
    assert result.failures == {} and result.shared_prefix_tokens == len(alone) - 1
    # independent reference: a plain forward pass on the tokenizer's own ids of each whole prompt string
    expected = []
    for instruction, response in PAIRS:
        ids = tokenizer(rating_prompt_text(PROMPT, instruction, response), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        expected.append(torch.softmax(logits, -1)[rating_token_ids(tokenizer)].numpy())
    np.testing.assert_allclose(result.probabilities, np.array(expected), rtol=0, atol=1e-5)


def test_long_instruction_is_cut_and_the_response_marker_and_response_survive(bpe_parts):
    model, tokenizer = bpe_parts
    scorer = RatingScorer(model, tokenizer, max_length=80, min_instruction_tokens=8)
    instruction = "explain gravity " + " ".join(NUMBERED)  # far more than 80 tokens
    response = "masses attract"
    encoded = scorer.encode(PROMPT, instruction, response)
    decoded = tokenizer.decode(encoded.ids)
    assert len(encoded.ids) <= 80
    assert decoded.startswith(PROMPT + "\n\nInstruction:explain")
    assert decoded.endswith("\nResponse:masses attract\nThe answer is: \n")  # whole response, marker and tail
    assert encoded.instruction_cut > 0 and encoded.response_cut == 0


@pytest.mark.parametrize("mode", ["middle", "end"])
def test_middle_keeps_the_instruction_end_and_end_keeps_only_its_start(bpe_parts, mode):
    model, tokenizer = bpe_parts
    scorer = RatingScorer(model, tokenizer, max_length=90, truncate_instruction=mode)
    instruction = " ".join(NUMBERED)
    decoded = tokenizer.decode(scorer.encode(PROMPT, instruction, "five").ids)
    kept = decoded.split("Instruction:")[1].split("\nResponse:")[0]
    assert decoded.endswith("\nResponse:five\nThe answer is: \n")
    assert kept.startswith("w0 w1") and len(kept) < len(instruction)
    head = next(i for i in range(len(kept) + 1) if i == len(kept) or kept[i] != instruction[i])
    if mode == "middle":  # a start and an end of the instruction, its middle gone
        assert 0 < head < len(kept) and kept.endswith(" w58 w59") and instruction.endswith(kept[head:])
        assert "w30 " not in kept
    else:  # only its start
        assert head == len(kept) and "w59" not in kept


def test_response_longer_than_max_length_keeps_its_beginning(bpe_parts):
    model, tokenizer = bpe_parts
    scorer = RatingScorer(model, tokenizer, max_length=70)
    response = " ".join(NUMBERED)
    encoded = scorer.encode(PROMPT, "name a fruit", response)
    decoded = tokenizer.decode(encoded.ids)
    assert len(encoded.ids) <= 70
    assert "Instruction:name a fruit\nResponse:w0 w1" in decoded  # short instruction untouched
    assert decoded.endswith("\nThe answer is: \n") and "w59" not in decoded
    kept = decoded.split("\nResponse:")[1][: -len("\nThe answer is: \n")]
    assert len(kept) > 0 and response.startswith(kept)
    assert encoded.instruction_cut == 0 and encoded.response_cut > 0


def test_cut_counts_on_a_hand_made_batch(scorer_parts):
    """Word-level tokens: 15 fixed tokens, max_length 25 -> budget 10; the instruction keeps at least
    min(32, 10 // 2) = 5 tokens before the response loses any."""
    model, tokenizer = scorer_parts
    pairs = [
        (_words("w", 12), _words("apple", 3)),  # excess 5: instruction 12 -> 7
        (_words("w", 12), _words("apple", 9)),  # excess 11: instruction 12 -> 5, response 9 -> 5
        (_words("fruit", 2), _words("apple", 20)),  # excess 12: instruction below floor, response 20 -> 8
        ("name a fruit", "apple"),  # fits
    ]
    scorer = RatingScorer(model, tokenizer, max_length=25)
    assert len(scorer.prompt_ids(rating_prompt_text(PROMPT, "", ""))) == FIXED_WORD_TOKENS
    result = scorer.probabilities(PROMPT, pairs, batch_size=2)
    assert result.failures == {}
    assert result.instruction_tokens.tolist() == [12, 12, 2, 3] and result.response_tokens.tolist() == [3, 9, 20, 1]
    assert result.instruction_cut.tolist() == [5, 7, 0, 0]
    assert result.response_cut.tolist() == [0, 4, 12, 0]
    assert result.prompt_tokens.tolist() == [25, 25, 25, 19] and result.truncated == 3
    report = truncation_report(result.instruction_cut, result.response_cut, result.instruction_tokens, result.response_tokens)
    assert report == {
        "prompts": 4, "truncated": 3, "instruction_truncated": 2, "response_truncated": 2,
        "instruction_tokens_removed": 12, "response_tokens_removed": 16,
        "max_instruction_tokens_removed": 7, "max_response_tokens_removed": 12,
        "instruction_removed_fraction": pytest.approx(12 / 29), "response_removed_fraction": pytest.approx(16 / 33),
    }
    assert not np.isnan(result.probabilities).any()
    np.testing.assert_allclose(result.probabilities, scorer.reference_probabilities(PROMPT, pairs), rtol=1e-4, atol=1e-7)


def test_truncation_report_rejects_bad_counts():
    with pytest.raises(ValueError, match="one shape"):
        truncation_report([1, 2], [1])
    with pytest.raises(ValueError, match=">= 0"):
        truncation_report([-1], [0])


def test_bad_settings_fail_before_scoring(scorer_parts):
    model, tokenizer = scorer_parts
    with pytest.raises(ValueError, match="truncate_instruction"):
        RatingScorer(model, tokenizer, truncate_instruction="start")
    with pytest.raises(ValueError, match="min_instruction_tokens"):
        RatingScorer(model, tokenizer, min_instruction_tokens=-1)
    with pytest.raises(ValueError, match="batch_size"):
        RatingScorer(model, tokenizer).probabilities(PROMPT, PAIRS, batch_size=0)


def test_a_failed_example_is_reported_and_does_not_shift_the_others(scorer_parts, monkeypatch):
    model, tokenizer = scorer_parts
    scorer = RatingScorer(model, tokenizer, max_length=200)
    reference = scorer.reference_probabilities(PROMPT, PAIRS)
    original = scorer._batch
    bad_tail = tokenizer("five\nThe answer is: \n", add_special_tokens=False)["input_ids"]

    def flaky(cache, prefix_len, examples):
        if any(e[-len(bad_tail) :] == bad_tail for e in examples):
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
    assert all("max_length" in r for r in result.failures.values())


def test_rating_node_reports_cuts_per_example_and_prompt(scorer_parts, tmp_path):
    from data_selection.core.shards import ShardStore
    from data_selection.pipelines.selectit.nodes import rating_probabilities

    model, tokenizer = scorer_parts
    pool = [
        {"id": "long", "messages": [{"role": "user", "content": _words("w", 12)}, {"role": "assistant", "content": _words("apple", 9)}]},
        {"id": "short", "messages": [{"role": "user", "content": "name a fruit"}, {"role": "assistant", "content": "apple"}]},
    ]
    params = {
        "max_length": 25, "rating_levels": 5, "num_prompts": 2, "batch_size": 2, "truncate_instruction": "middle",
        "min_instruction_tokens": 32, "prompt_separator": "\n\n", "prompts": [PROMPT, PROMPT + " please"],
    }
    table = rating_probabilities(CausalLM(model, tokenizer, "tiny"), pool, ShardStore(tmp_path / "r"), params)
    assert list(table["id"]) == ["long", "short", "long", "short"]
    # prompt 2 has one more fixed token: budget 9, instruction floor 9 // 2 = 4
    assert table["instruction_tokens_cut"].tolist() == [7, 0, 8, 0]
    assert table["response_tokens_cut"].tolist() == [4, 0, 4, 0]
    assert table["prompt_tokens"].tolist() == [25, 19, 25, 20]
    assert (table["status"] == "ok").all() and isinstance(table, pd.DataFrame)


def test_parameter_schema_rejects_bad_rating_settings_before_any_model_loads():
    from pydantic import ValidationError

    from data_selection.pipelines.selectit.parameters import SelectITParams

    good = {"num_prompts": 1, "token_level_prompt": 0, "prompts": [PROMPT], "max_length": 64, "truncate_instruction": "end"}
    assert SelectITParams.model_validate(good)["num_prompts"] == 1
    for bad, match in [({"truncate_instruction": "start"}, "truncate_instruction"), ({"max_length": 1}, "max_length"),
                       ({"min_instruction_tokens": -1}, "min_instruction_tokens"), ({"num_prompts": 2}, "num_prompts"),
                       ({"token_level_prompt": 1}, "token_level_prompt"), ({"weighting": "code"}, "THREE"),
                       ({"level": "document"}, "level"), ({"max_lenght": 64}, "max_lenght")]:
        with pytest.raises(ValidationError, match=match):
            SelectITParams.model_validate({**good, **bad})


def test_rating_shards_resume_and_equal_the_unsharded_pass(scorer_parts, tmp_path, monkeypatch):
    from data_selection.core.shards import ShardStore
    from data_selection.llm.rating import RatingScorer
    from data_selection.pipelines.selectit.nodes import rating_probabilities

    model, tokenizer = scorer_parts
    lm = CausalLM(model, tokenizer, "tiny")
    pool = [{"id": f"ex{i}", "messages": [{"role": "user", "content": _words("w", 2 + i)},
                                          {"role": "assistant", "content": _words("apple", 1 + i % 3)}]} for i in range(5)]
    params = {
        "max_length": 64, "rating_levels": 5, "num_prompts": 2, "batch_size": 2, "truncate_instruction": "middle",
        "min_instruction_tokens": 32, "prompt_separator": "\n\n", "prompts": [PROMPT, PROMPT + " please"],
    }
    whole = rating_probabilities(lm, pool, ShardStore(tmp_path / "whole"), {**params, "sharding": {"shard_size": 5, "executor": "local"}})
    store = ShardStore(tmp_path / "sharded")
    sharded = {**params, "sharding": {"shard_size": 2, "executor": "local"}}
    first = rating_probabilities(lm, pool, store, sharded)
    assert store.keys() == ["00000000-00000002", "00000002-00000004", "00000004-00000005"]
    probabilities = [c for c in whole.columns if c.startswith("p_")]
    np.testing.assert_allclose(first[probabilities].to_numpy(), whole[probabilities].to_numpy(), rtol=1e-5, atol=1e-9)
    # a killed run: the middle shard is missing; the rerun rates only its 2 examples (under each of the 2 prompts)
    store.path("00000002-00000004").unlink()
    rated = []
    original = RatingScorer.probabilities
    monkeypatch.setattr(RatingScorer, "probabilities",
                        lambda self, prompt, pairs, **kw: rated.append(len(pairs)) or original(self, prompt, pairs, **kw))
    again = rating_probabilities(lm, pool, store, sharded)
    assert rated == [2, 2]
    np.testing.assert_allclose(again[probabilities].to_numpy(), first[probabilities].to_numpy(), rtol=1e-5, atol=1e-9)
    # other rating prompts: the stored shards are not reused
    rated.clear()
    rating_probabilities(lm, pool, store, {**sharded, "prompts": [PROMPT + " now", PROMPT]})
    assert sum(rated) == 2 * 5
