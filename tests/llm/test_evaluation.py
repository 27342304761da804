"""Multiple-choice scoring with a fake model whose next-token logits are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from data_selection.llm.evaluation import (
    answer_messages,
    evaluate_multiple_choice,
    letter_token_ids,
    next_token_logprobs,
    question_messages,
    summarise,
)

# must match the vocabulary built in conftest.py (checked by test_vocabulary_matches_conftest)
VOCAB = (
    ["<pad>", "<unk>", "</s>", "<user>", "<assistant>", "<system>", "<|user|>", "<|assistant|>"]
    + ["A", "B", "C", "D", "qa", "qb", "qc", "qd", "filler"]
    + [f"w{i}" for i in range(40)]
)
V = len(VOCAB)
ID = {t: i for i, t in enumerate(VOCAB)}
CUE_TO_LETTER = {"qa": "A", "qb": "B", "qc": "C", "qd": "D"}
CUE_WEIGHT = 2.0
PAD_BIAS = 10.0


class _Output:
    def __init__(self, logits):
        self.logits = logits


class BagOfCuesModel(torch.nn.Module):
    """Logits at position t = Σ_{s<=t, attended} W[token_s] + U[token_t].

    W maps each cue word ``qa``..``qd`` to +2 on its letter; U puts a large bias on "D" at a pad token, so
    reading the logits anywhere but the last real token (e.g. after right padding) changes the answer.
    """

    def __init__(self):
        super().__init__()
        weights = torch.zeros(V, V, dtype=torch.float64)
        for cue, letter in CUE_TO_LETTER.items():
            weights[ID[cue], ID[letter]] = CUE_WEIGHT
        current = torch.zeros(V, V, dtype=torch.float64)
        current[ID["<pad>"], ID["D"]] = PAD_BIAS
        self.weights = torch.nn.Parameter(weights, requires_grad=False)
        self.current = torch.nn.Parameter(current, requires_grad=False)
        self.calls = []

    def forward(self, input_ids, attention_mask=None):
        self.calls.append(tuple(input_ids.shape))
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        contributions = self.weights[input_ids] * attention_mask[..., None].to(self.weights.dtype)
        logits = contributions.cumsum(dim=1) + self.current[input_ids]
        return _Output(logits.float())


def _expected_last_logits(question: str) -> list[float]:
    logits = [0.0] * V
    for word in question.split():
        if word in CUE_TO_LETTER:
            logits[ID[CUE_TO_LETTER[word]]] += CUE_WEIGHT
    return logits


def _log_softmax_at(logits: list[float], index: int) -> float:
    return logits[index] - math.log(sum(math.exp(v) for v in logits))


ROWS = [
    # A wins and is right
    {"id": "m1", "task": "mmlu", "subtask": "high_school_math", "question": "qa qa", "choices": ["w1", "w2", "w3", "w4"], "answer": 0},
    # B wins (3 cues vs 1 for C) but C is right
    {"id": "m2", "task": "mmlu", "subtask": "anatomy", "question": "qb qb qb qc w5 w6 w7 w8", "choices": ["w1", "w2", "w3"], "answer": 2},
    # D has the highest logit but only A/B are options: tie between A and B -> first (A); B is right
    {"id": "b1", "task": "bbh", "subtask": "logic", "question": "qd", "choices": ["w1", "w2"], "answer": 1},
    # C wins and is right; the longest prompt
    {"id": "b2", "task": "bbh", "subtask": "logic", "question": "qc qc qc filler filler filler filler filler filler qa", "choices": ["w1", "w2", "w3", "w4"], "answer": 2},
    # C wins and is right again
    {"id": "b3", "task": "bbh", "subtask": "dates", "question": "w9 qc", "choices": ["w1", "w2", "w3"], "answer": 2},
]
EXPECTED_PREDICTIONS = [0, 1, 0, 2, 2]
EXPECTED_CORRECT = [True, False, False, True, True]


def _expected_losses(rows):
    return [
        -_log_softmax_at(_expected_last_logits(r["question"]), ID["ABCD"[r["answer"]]]) for r in rows
    ]


# --------------------------------------------------------------------------- letter_token_ids


def test_letter_token_ids_looks_up_the_tokenizer(plain_tokenizer):
    assert letter_token_ids(plain_tokenizer, 4) == [ID["A"], ID["B"], ID["C"], ID["D"]]
    assert letter_token_ids(plain_tokenizer, 2) == [ID["A"], ID["B"]]


def test_vocabulary_matches_conftest(vocab_ids, plain_tokenizer):
    assert vocab_ids == ID
    assert plain_tokenizer.get_vocab() == ID


def test_letter_token_ids_rejects_multi_token_letter(make_tokenizer):
    from tokenizers import normalizers

    # a normaliser that turns "C" into two words makes "C" two tokens
    tokenizer = make_tokenizer(normalizer=normalizers.Replace("C", "w1 w2"))
    assert tokenizer("C", add_special_tokens=False)["input_ids"] == [ID["w1"], ID["w2"]]
    assert letter_token_ids(tokenizer, 2) == [ID["A"], ID["B"]]  # A and B are still single tokens
    with pytest.raises(ValueError, match="'C'"):
        letter_token_ids(tokenizer, 3)


# --------------------------------------------------------------------------- prompts


def test_question_and_answer_messages():
    user = question_messages(ROWS[0])
    assert len(user) == 1 and user[0]["role"] == "user"
    content = user[0]["content"]
    assert "about high school math" in content
    assert "A. w1\nB. w2\nC. w3\nD. w4" in content
    assert question_messages(ROWS[2])[0]["content"].startswith("Answer the following multiple choice question.")
    assert answer_messages(ROWS[1])[-1] == {"role": "assistant", "content": "C"}


# --------------------------------------------------------------------------- evaluate_multiple_choice


@pytest.mark.parametrize("which", ["plain", "chat"])
def test_evaluate_multiple_choice_predictions_and_losses(request, which):
    tokenizer = request.getfixturevalue(f"{which}_tokenizer")
    model = BagOfCuesModel()
    result = evaluate_multiple_choice(model, tokenizer, ROWS, batch_size=2)

    assert set(result) == {"predictions", "correct", "loss"}
    np.testing.assert_array_equal(result["predictions"], EXPECTED_PREDICTIONS)
    np.testing.assert_array_equal(result["correct"], EXPECTED_CORRECT)
    assert result["correct"].dtype == bool
    np.testing.assert_allclose(result["loss"], _expected_losses(ROWS), rtol=1e-5)
    assert (result["loss"] > 0).all()
    # batched: ceil(5 / 2) forward passes, some with padding
    assert len(model.calls) == 3
    assert tokenizer.padding_side == "right"  # restored afterwards


def test_evaluate_multiple_choice_batching_does_not_change_results(chat_tokenizer):
    prompts_lengths = {len(chat_tokenizer(r["question"])["input_ids"]) for r in ROWS}
    assert len(prompts_lengths) > 1  # rows really have different lengths
    results = [evaluate_multiple_choice(BagOfCuesModel(), chat_tokenizer, ROWS, batch_size=b) for b in (1, 2, 8)]
    for other in results[1:]:
        np.testing.assert_array_equal(other["predictions"], results[0]["predictions"])
        np.testing.assert_array_equal(other["correct"], results[0]["correct"])
        np.testing.assert_allclose(other["loss"], results[0]["loss"], rtol=0, atol=1e-6)


def test_next_token_logprobs_keeps_input_order_and_restores_padding_side(plain_tokenizer):
    prompts = ["qa qa qa w1 w2 w3", "qb", "qc qc w4"]
    plain_tokenizer.padding_side = "right"
    out = next_token_logprobs(BagOfCuesModel(), plain_tokenizer, prompts, batch_size=3)
    assert plain_tokenizer.padding_side == "right"
    assert len(out) == 3 and all(t.shape == (V,) and t.dtype == torch.float32 for t in out)
    for prompt, lp in zip(prompts, out):
        expected = _expected_last_logits(prompt)
        for letter in "ABCD":
            assert lp[ID[letter]].item() == pytest.approx(_log_softmax_at(expected, ID[letter]), rel=1e-5)
        torch.testing.assert_close(lp.exp().sum(), torch.tensor(1.0))


def test_evaluate_multiple_choice_rejects_empty(plain_tokenizer):
    with pytest.raises(ValueError, match="no evaluation rows"):
        evaluate_multiple_choice(BagOfCuesModel(), plain_tokenizer, [])


# --------------------------------------------------------------------------- summarise


def test_summarise_by_hand():
    result = {
        "predictions": np.asarray(EXPECTED_PREDICTIONS),
        "correct": np.asarray(EXPECTED_CORRECT),
        "loss": np.asarray([0.5, 2.0, 1.0, 0.25, 0.75]),
    }
    metrics = summarise(ROWS, result)
    assert metrics == {
        "bbh_accuracy": pytest.approx(2 / 3),
        "bbh_loss": pytest.approx((1.0 + 0.25 + 0.75) / 3),
        "bbh_n": 3,
        "mmlu_accuracy": pytest.approx(1 / 2),
        "mmlu_loss": pytest.approx((0.5 + 2.0) / 2),
        "mmlu_n": 2,
        "test_response_loss": pytest.approx((0.5 + 2.0 + 1.0 + 0.25 + 0.75) / 5),
    }
    assert all(isinstance(v, float) for k, v in metrics.items() if not k.endswith("_n"))
    assert isinstance(metrics["bbh_n"], int)


def test_summarise_end_to_end(chat_tokenizer):
    result = evaluate_multiple_choice(BagOfCuesModel(), chat_tokenizer, ROWS, batch_size=4)
    metrics = summarise(ROWS, result)
    losses = _expected_losses(ROWS)
    assert metrics["mmlu_accuracy"] == pytest.approx(0.5)
    assert metrics["bbh_accuracy"] == pytest.approx(2 / 3)
    assert metrics["mmlu_loss"] == pytest.approx(sum(losses[:2]) / 2, rel=1e-5)
    assert metrics["bbh_loss"] == pytest.approx(sum(losses[2:]) / 3, rel=1e-5)
    assert metrics["test_response_loss"] == pytest.approx(sum(losses) / 5, rel=1e-5)
