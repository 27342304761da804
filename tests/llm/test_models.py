"""Chat formatting, response-only labels, truncation, padding and length bucketing."""

from __future__ import annotations

import random

import pytest
import torch

from data_selection.llm.models import (
    IGNORE_INDEX,
    PLAIN_ASSISTANT,
    PLAIN_USER,
    encode_example,
    format_prompt,
    length_sorted_batches,
    pad_batch,
)


def _words(start: int, n: int) -> str:
    return " ".join(f"w{i % 40}" for i in range(start, start + n))


def _conversation(prompt_words: int, response_words: int) -> list[dict]:
    return [
        {"role": "user", "content": _words(0, prompt_words)},
        {"role": "assistant", "content": _words(20, response_words)},
    ]


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# --------------------------------------------------------------------------- format_prompt


def test_format_prompt_plain_fallback(plain_tokenizer):
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    # official LESS concat_messages: <|system|> for system turns, EOS after every assistant message
    assert format_prompt(plain_tokenizer, messages) == (
        "<|system|>\nbe nice\n<|user|>\nhi\n<|assistant|>\nhello</s>\n<|user|>\nbye\n<|assistant|>\n"
    )
    assert PLAIN_USER == "<|user|>\n" and PLAIN_ASSISTANT == "<|assistant|>\n"


def test_format_prompt_uses_chat_template(chat_tokenizer):
    messages = [{"role": "user", "content": "w1 w2"}]
    assert format_prompt(chat_tokenizer, messages) == "<user> w1 w2 </s> <assistant> "


# --------------------------------------------------------------------------- encode_example


@pytest.mark.parametrize("which", ["plain", "chat"])
def test_encode_example_masks_exactly_the_prompt(request, which):
    tokenizer = request.getfixturevalue(f"{which}_tokenizer")
    messages = _conversation(3, 4)
    encoded = encode_example(tokenizer, messages, max_length=64)
    prompt_ids = _ids(tokenizer, format_prompt(tokenizer, messages[:-1]))
    response_ids = _ids(tokenizer, _words(20, 4)) + [tokenizer.eos_token_id]

    assert encoded["truncated"] is False
    assert encoded["input_ids"] == prompt_ids + response_ids
    assert len(encoded["labels"]) == len(encoded["input_ids"])
    n_prompt = len(prompt_ids)
    assert encoded["labels"][:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert encoded["labels"][n_prompt:] == encoded["input_ids"][n_prompt:]
    assert IGNORE_INDEX not in encoded["labels"][n_prompt:]
    # the response ends with EOS, so the model learns to stop
    assert encoded["labels"][-1] == tokenizer.eos_token_id
    assert tokenizer.unk_token_id not in encoded["input_ids"]


def test_encode_example_plain_layout(plain_tokenizer):
    encoded = encode_example(plain_tokenizer, _conversation(2, 2), max_length=64)
    text = plain_tokenizer.decode(encoded["input_ids"])
    assert text.split() == ["<|user|>", "w0", "w1", "<|assistant|>", "w20", "w21", "</s>"]


def test_encode_example_multi_turn_only_last_turn_labelled(chat_tokenizer):
    messages = [
        {"role": "user", "content": "w1"},
        {"role": "assistant", "content": "w2 w3"},
        {"role": "user", "content": "w4"},
        {"role": "assistant", "content": "w5 w6 w7"},
    ]
    encoded = encode_example(chat_tokenizer, messages, max_length=64)
    labelled = [t for t in encoded["labels"] if t != IGNORE_INDEX]
    assert labelled == _ids(chat_tokenizer, "w5 w6 w7 </s>")


@pytest.mark.parametrize("which", ["plain", "chat"])
@pytest.mark.parametrize(
    ("prompt_words", "response_words", "max_length"),
    [
        (30, 30, 16),  # both long: response keeps max_length // 4, prompt fills the rest
        (30, 3, 16),  # short response kept whole, prompt cut from the left
        (4, 30, 16),  # short prompt kept whole, response fills the rest
        (50, 50, 8),  # smallest allowed max_length
        (10, 10, 13),  # odd max_length
    ],
)
def test_encode_example_truncation(request, which, prompt_words, response_words, max_length):
    tokenizer = request.getfixturevalue(f"{which}_tokenizer")
    messages = _conversation(prompt_words, response_words)
    full_prompt = _ids(tokenizer, format_prompt(tokenizer, messages[:-1]))
    full_response = _ids(tokenizer, _words(20, response_words)) + [tokenizer.eos_token_id]
    assert len(full_prompt) + len(full_response) > max_length

    encoded = encode_example(tokenizer, messages, max_length=max_length)
    ids, labels = encoded["input_ids"], encoded["labels"]
    assert encoded["truncated"] is True
    assert len(ids) == len(labels) <= max_length

    n_prompt = sum(1 for t in labels if t == IGNORE_INDEX)
    prompt_part, response_part = ids[:n_prompt], ids[n_prompt:]
    assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert labels[n_prompt:] == response_part
    # at least max_length // 4 response tokens, or the whole response when shorter
    assert len(response_part) >= min(len(full_response), max_length // 4)
    # the response is cut at its end, the prompt at its beginning
    assert response_part == full_response[: len(response_part)]
    if n_prompt:
        assert prompt_part == full_prompt[-n_prompt:]
    # nothing is wasted: the budget is used fully
    assert len(ids) == max_length


def test_encode_example_truncation_exact_split(plain_tokenizer):
    # prompt = 1 + 30 + 1 tokens, response = 30 + 1: keep max_length // 4 = 5 response tokens
    encoded = encode_example(plain_tokenizer, _conversation(30, 30), max_length=20)
    labels = encoded["labels"]
    assert labels.count(IGNORE_INDEX) == 15
    assert plain_tokenizer.decode(encoded["input_ids"][15:]).split() == ["w20", "w21", "w22", "w23", "w24"]
    # the prompt keeps its end: the last user words and the assistant header
    assert plain_tokenizer.decode(encoded["input_ids"][:15]).split()[-3:] == ["w28", "w29", "<|assistant|>"]


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "user", "content": "w1"}],
        [{"role": "assistant", "content": "w1"}, {"role": "user", "content": "w2"}],
        [{"role": "user", "content": "w1"}, {"role": "assistant", "content": ""}],
    ],
    ids=["empty", "user-only", "ends-with-user", "empty-assistant"],
)
def test_encode_example_rejects_bad_conversations(plain_tokenizer, messages):
    with pytest.raises(ValueError, match="assistant"):
        encode_example(plain_tokenizer, messages, max_length=64)


def test_encode_example_rejects_tiny_max_length(plain_tokenizer):
    with pytest.raises(ValueError, match="max_length"):
        encode_example(plain_tokenizer, _conversation(1, 1), max_length=7)
    assert encode_example(plain_tokenizer, _conversation(1, 1), max_length=8) is not None


# --------------------------------------------------------------------------- pad_batch


EXAMPLES = [
    {"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7]},
    {"input_ids": [8, 9, 10, 11, 12], "labels": [IGNORE_INDEX, IGNORE_INDEX, 10, 11, 12]},
    {"input_ids": [13], "labels": [13]},
]


def test_pad_batch_right():
    batch = pad_batch(EXAMPLES, pad_id=0, side="right")
    assert set(batch) == {"input_ids", "labels", "attention_mask"}
    assert all(t.dtype == torch.long for t in batch.values())
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0, 0], [8, 9, 10, 11, 12], [13, 0, 0, 0, 0]]
    assert batch["labels"].tolist() == [
        [-100, 6, 7, -100, -100],
        [-100, -100, 10, 11, 12],
        [13, -100, -100, -100, -100],
    ]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]


def test_pad_batch_left():
    batch = pad_batch(EXAMPLES, pad_id=99, side="left")
    assert batch["input_ids"].tolist() == [[99, 99, 5, 6, 7], [8, 9, 10, 11, 12], [99, 99, 99, 99, 13]]
    assert batch["labels"].tolist() == [
        [-100, -100, -100, 6, 7],
        [-100, -100, 10, 11, 12],
        [-100, -100, -100, -100, 13],
    ]
    assert batch["attention_mask"].tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]]


def test_pad_batch_single_example_has_no_padding():
    batch = pad_batch(EXAMPLES[1:2], pad_id=0)
    assert batch["input_ids"].tolist() == [EXAMPLES[1]["input_ids"]]
    assert batch["attention_mask"].all()


# --------------------------------------------------------------------------- length_sorted_batches


def test_length_sorted_batches_small_case():
    lengths = [5, 1, 3, 3, 9, 1, 2]
    batches = length_sorted_batches(lengths, batch_size=3)
    # sorted by (length, index): ties keep the original order
    assert batches == [[1, 5, 6], [2, 3, 0], [4]]


@pytest.mark.parametrize("batch_size", [1, 2, 7, 100])
def test_length_sorted_batches_cover_every_index_once(batch_size):
    rng = random.Random(0)
    lengths = [rng.randint(1, 50) for _ in range(57)]
    batches = length_sorted_batches(lengths, batch_size)
    assert batches == length_sorted_batches(list(lengths), batch_size)  # deterministic
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(len(b) == batch_size for b in batches[:-1])
    assert 1 <= len(batches[-1]) <= batch_size
    assert [lengths[i] for i in flat] == sorted(lengths)


def test_length_sorted_batches_empty():
    assert length_sorted_batches([], 4) == []


def test_length_buckets_close_a_batch_before_the_padding_cap_is_exceeded():
    # sorted by (length, index): idx 0 (len 10), 3 (10), 4 (11), 1 (20), 2 (21), 5 (40)
    lengths = [10, 20, 21, 10, 11, 40]
    # cap 10 %: [10, 10, 11] pads 3 of 33 = 9.1 % -> ok; + 20 pads 4*20 - 51 = 29 of 80 -> new batch;
    # [20, 21] pads 1 of 42; + 40 pads 120 - 81 = 39 of 120 -> new batch; [40] alone
    assert length_sorted_batches(lengths, batch_size=8, max_padding_fraction=0.1) == [[0, 3, 4], [1, 2], [5]]
    # cap 0: only equal lengths share a batch
    assert length_sorted_batches(lengths, batch_size=8, max_padding_fraction=0.0) == [[0, 3], [4], [1], [2], [5]]
    # the cap never merges beyond batch_size, and 1.0 is the plain length-sorted batching
    assert length_sorted_batches(lengths, batch_size=2, max_padding_fraction=0.1) == [[0, 3], [4], [1, 2], [5]]
    assert length_sorted_batches(lengths, 4, 1.0) == length_sorted_batches(lengths, 4) == [[0, 3, 4, 1], [2, 5]]
    with pytest.raises(ValueError, match="max_padding_fraction"):
        length_sorted_batches(lengths, 4, 1.5)
    with pytest.raises(ValueError, match="batch_size"):
        length_sorted_batches(lengths, 0)
