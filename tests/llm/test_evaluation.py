"""Multiple-choice scoring: fake models whose next-token logits are known exactly, and a tiny random Llama for
the fast paths (last-position logits, padding, merged LoRA adapter)."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from data_selection.llm.evaluation import (
    _last_logits,
    _left_padded,
    adapted_model,
    answer_messages,
    check_rows,
    evaluate_multiple_choice,
    last_logits_strategy,
    letter_token_ids,
    next_token_logprobs,
    option_scores,
    prediction_records,
    question_messages,
    summarise,
)
from data_selection.llm.models import CausalLM

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


# --------------------------------------------------------------------------- metrics from a hand-made logit vector


class ConstantLogitsModel(torch.nn.Module):
    """Next-token logits are the same vector at every position, whatever the input."""

    def __init__(self, logits):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.as_tensor(logits, dtype=torch.float32), requires_grad=False)

    def forward(self, input_ids, attention_mask=None):
        return _Output(self.logits.expand(*input_ids.shape, -1))


def _hand_made_logits():
    # option letters A..D get probabilities proportional to 4 : 2 : 1 : 1 (sum 8); the other 53 tokens share
    # another 8, so the full-vocabulary normaliser is 16 and the letters hold half the mass
    logits = [math.log(8 / (V - 4))] * V
    for letter, weight in zip("ABCD", (4.0, 2.0, 1.0, 1.0)):
        logits[ID[letter]] = math.log(weight)
    return logits


def test_metrics_against_a_hand_computed_logit_vector(chat_tokenizer):
    row = {"id": "h1", "task": "mmlu", "subtask": "anatomy", "question": "w1", "choices": ["w1", "w2", "w3", "w4"], "answer": 1}
    result = evaluate_multiple_choice(ConstantLogitsModel(_hand_made_logits()), chat_tokenizer, [row])
    assert result["predictions"].tolist() == [0]  # A has the highest letter probability
    assert result["correct"].tolist() == [False]
    # option_nll = -log(2 / 8); letter_mass = 8 / 16; response_loss = -log(2 / 16)
    assert result["option_nll"][0] == pytest.approx(math.log(4), rel=1e-6)
    assert result["letter_mass"][0] == pytest.approx(0.5, rel=1e-6)
    assert result["response_loss"][0] == pytest.approx(math.log(8), rel=1e-6)
    np.testing.assert_allclose(result["letter_logprobs"][0], np.log([4 / 16, 2 / 16, 1 / 16, 1 / 16]), rtol=1e-6)

    # with only three options D is ignored: letters hold 7 of 16, the options renormalise over 4 + 2 + 1
    three = dict(row, choices=["w1", "w2", "w3"], answer=2)
    result = evaluate_multiple_choice(ConstantLogitsModel(_hand_made_logits()), chat_tokenizer, [row, three], batch_size=2)
    assert result["option_nll"][1] == pytest.approx(math.log(7), rel=1e-6)
    assert result["letter_mass"][1] == pytest.approx(7 / 16, rel=1e-6)
    assert result["response_loss"][1] == pytest.approx(math.log(16), rel=1e-6)
    assert result["letter_logprobs"].shape == (2, 4) and np.isnan(result["letter_logprobs"][1, 3])
    assert result["option_nll"][0] == pytest.approx(math.log(4), rel=1e-6)  # the 4-option row is unchanged


def test_option_scores_ties_go_to_the_first_letter_and_losses_decompose():
    letter_lp = np.log([[0.2, 0.2, 0.1, 0.0001], [0.05, 0.3, 0.3, 0.3]])
    scores = option_scores(letter_lp, np.array([3, 4]), np.array([1, 3]))
    assert scores["predictions"].tolist() == [0, 1]
    assert scores["correct"].tolist() == [False, False]
    np.testing.assert_allclose(scores["letter_mass"], [0.5, 0.95])
    np.testing.assert_allclose(scores["option_nll"], [-math.log(0.2 / 0.5), -math.log(0.3 / 0.95)])
    np.testing.assert_allclose(scores["response_loss"], [-math.log(0.2), -math.log(0.3)])
    # response_loss = option_nll - log(letter_mass)
    np.testing.assert_allclose(scores["response_loss"], scores["option_nll"] - np.log(scores["letter_mass"]))


# --------------------------------------------------------------------------- evaluate_multiple_choice (bag of cues)


def _expected_scores(rows):
    out = {"option_nll": [], "letter_mass": [], "response_loss": []}
    for r in rows:
        logits = _expected_last_logits(r["question"])
        letters = [_log_softmax_at(logits, ID[c]) for c in "ABCD"[: len(r["choices"])]]
        mass = sum(math.exp(x) for x in letters)
        out["letter_mass"].append(mass)
        out["option_nll"].append(math.log(mass) - letters[r["answer"]])
        out["response_loss"].append(-letters[r["answer"]])
    return out


@pytest.mark.parametrize("which", ["plain", "chat"])
def test_evaluate_multiple_choice_on_the_bag_of_cues_model(request, which):
    tokenizer = request.getfixturevalue(f"{which}_tokenizer")
    model = BagOfCuesModel()
    tokenizer.padding_side = "right"
    result = evaluate_multiple_choice(model, tokenizer, ROWS, batch_size=2)

    assert set(result) == {"predictions", "correct", "option_nll", "letter_mass", "response_loss", "letter_logprobs"}
    np.testing.assert_array_equal(result["predictions"], EXPECTED_PREDICTIONS)
    np.testing.assert_array_equal(result["correct"], EXPECTED_CORRECT)
    assert result["correct"].dtype == bool
    for key, expected in _expected_scores(ROWS).items():
        np.testing.assert_allclose(result[key], expected, rtol=1e-5)
    np.testing.assert_allclose(result["response_loss"], _expected_losses(ROWS), rtol=1e-5)
    # batched: ceil(5 / 2) forward passes, some with (left) padding; the pad bias on "D" never leaks in
    assert len(model.calls) == 3
    assert tokenizer.padding_side == "right"  # untouched


def test_batched_evaluation_equals_one_at_a_time(chat_tokenizer):
    prompts_lengths = {len(chat_tokenizer(r["question"])["input_ids"]) for r in ROWS}
    assert len(prompts_lengths) > 1  # rows really have different lengths
    results = [evaluate_multiple_choice(BagOfCuesModel(), chat_tokenizer, ROWS, batch_size=b) for b in (1, 2, 8)]
    for other in results[1:]:
        for key in ("predictions", "correct"):
            np.testing.assert_array_equal(other[key], results[0][key])
        for key in ("option_nll", "letter_mass", "response_loss"):
            np.testing.assert_allclose(other[key], results[0][key], rtol=0, atol=1e-6)


def test_next_token_logprobs_keeps_input_order(plain_tokenizer):
    prompts = ["qa qa qa w1 w2 w3", "qb", "qc qc w4"]
    letters = [ID[c] for c in "ABCD"]
    out = next_token_logprobs(BagOfCuesModel(), plain_tokenizer, prompts, letters, batch_size=3)
    full = next_token_logprobs(BagOfCuesModel(), plain_tokenizer, prompts, batch_size=2)
    assert out.shape == (3, 4) and out.dtype == np.float64 and full.shape == (3, V)
    for row, prompt in enumerate(prompts):
        expected = _expected_last_logits(prompt)
        np.testing.assert_allclose(out[row], [_log_softmax_at(expected, i) for i in letters], rtol=1e-5)
    np.testing.assert_allclose(np.exp(full).sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(full[:, letters], out, rtol=1e-6)


def test_bad_rows_and_settings_are_rejected_before_scoring(plain_tokenizer):
    model = BagOfCuesModel()
    with pytest.raises(ValueError, match="no evaluation rows"):
        evaluate_multiple_choice(model, plain_tokenizer, [])
    with pytest.raises(ValueError, match="answer 4 is not an option"):
        evaluate_multiple_choice(model, plain_tokenizer, [dict(ROWS[0], answer=4)])
    with pytest.raises(ValueError, match="1 options"):
        check_rows([dict(ROWS[0], choices=["w1"])])
    with pytest.raises(ValueError, match="lacks \\['task'\\]"):
        check_rows([{k: v for k, v in ROWS[0].items() if k != "task"}])
    with pytest.raises(ValueError, match="logits must be one of"):
        evaluate_multiple_choice(model, plain_tokenizer, ROWS, logits="middle")
    assert model.calls == []


# --------------------------------------------------------------------------- summarise and prediction records


def _result(loss_scale=1.0):
    return {
        "predictions": np.asarray(EXPECTED_PREDICTIONS),
        "correct": np.asarray(EXPECTED_CORRECT),
        "option_nll": np.asarray([0.1, 1.2, 0.9, 0.2, 0.3]),
        "letter_mass": np.asarray([0.9, 0.5, 0.2, 0.8, 0.6]),
        "response_loss": np.asarray([0.5, 2.0, 1.0, 0.25, 0.75]) * loss_scale,
    }


def test_summarise_by_hand():
    metrics = summarise(ROWS, _result())
    assert metrics == {
        "accuracy": pytest.approx(3 / 5),
        "option_nll": pytest.approx(2.7 / 5),
        "letter_mass": pytest.approx(3.0 / 5),
        "test_response_loss": pytest.approx(4.5 / 5),
        "mmlu_accuracy": pytest.approx(1 / 2),
        "mmlu_option_nll": pytest.approx(1.3 / 2),
        "mmlu_letter_mass": pytest.approx(1.4 / 2),
        "mmlu_response_loss": pytest.approx(2.5 / 2),
        "mmlu_n": 2,
        "bbh_accuracy": pytest.approx(2 / 3),
        "bbh_option_nll": pytest.approx(1.4 / 3),
        "bbh_letter_mass": pytest.approx(1.6 / 3),
        "bbh_response_loss": pytest.approx(2.0 / 3),
        "bbh_n": 3,
    }
    assert all(isinstance(v, float) for k, v in metrics.items() if not k.endswith("_n"))
    assert isinstance(metrics["bbh_n"], int)


def test_prediction_records_carry_every_per_question_score():
    records = prediction_records(ROWS, _result())
    assert [r["id"] for r in records] == ["m1", "m2", "b1", "b2", "b3"]
    assert records[1] == {
        "id": "m2", "task": "mmlu", "subtask": "anatomy", "answer": 2, "prediction": 1, "correct": False,
        "option_nll": 1.2, "letter_mass": 0.5, "response_loss": 2.0,
    }
    assert all(type(r["correct"]) is bool and type(r["prediction"]) is int for r in records)


# --------------------------------------------------------------------------- a tiny random Llama: fast paths


LORA = {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "init_seed": 0}


@pytest.fixture()
def tiny_llama(chat_tokenizer):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, initializer_range=0.3, pad_token_id=ID["<pad>"],
    )
    model = transformers.LlamaForCausalLM(config).eval()
    return CausalLM(model, chat_tokenizer, "tiny-llama")


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_tiny_llama_last_position_strategies_agree(tiny_llama):
    model, tokenizer = tiny_llama.model, tiny_llama.tokenizer
    assert last_logits_strategy(model) == "logits_to_keep"
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in ("qa qb w1 w2 w3 w4", "qc", "filler qd w5")]
    batch = _left_padded(ids, tokenizer.pad_token_id, "cpu")
    with torch.inference_mode():
        results = {s: _last_logits(model, batch, s) for s in ("logits_to_keep", "hidden_states", "full")}
        alone = [model(input_ids=torch.tensor([x])).logits[0, -1] for x in ids]
    for strategy, logits in results.items():
        assert logits.shape == (3, V), strategy
        torch.testing.assert_close(logits, torch.stack(alone), atol=1e-5, rtol=1e-5)


def test_tiny_llama_batches_equal_one_at_a_time_and_full_logits(tiny_llama):
    rows = ROWS * 2
    one = evaluate_multiple_choice(tiny_llama.model, tiny_llama.tokenizer, rows, batch_size=1)
    for kwargs in ({"batch_size": 4}, {"batch_size": 10}, {"batch_size": 3, "logits": "full"}):
        other = evaluate_multiple_choice(tiny_llama.model, tiny_llama.tokenizer, rows, **kwargs)
        np.testing.assert_array_equal(other["predictions"], one["predictions"])
        np.testing.assert_allclose(other["letter_logprobs"], one["letter_logprobs"], atol=1e-5, equal_nan=True)


def _nonzero_adapter(lm):
    from data_selection.llm.training import attach_lora, lora_state

    peft_model = attach_lora(CausalLM(copy.deepcopy(lm.model), lm.tokenizer, lm.name), LORA)
    generator = torch.Generator().manual_seed(1)
    return {k: torch.randn(v.shape, generator=generator) * 0.5 for k, v in lora_state(peft_model).items()}


@pytest.mark.parametrize("merge", [True, False])
def test_adapter_changes_the_scores_but_never_the_shared_base_model(tiny_llama, merge):
    pytest.importorskip("peft")
    lm = tiny_llama
    model_object, before = lm.model, _state(lm.model)
    module_names = [n for n, _ in lm.model.named_modules()]
    adapter = _nonzero_adapter(lm)
    base = evaluate_multiple_choice(lm.model, lm.tokenizer, ROWS)

    with adapted_model(lm, LORA, adapter, merge=merge) as model:
        if merge:
            assert model is not lm.model
            assert not any("lora" in n for n, _ in model.named_modules())  # plain linear layers
        adapted = evaluate_multiple_choice(model, lm.tokenizer, ROWS, batch_size=2)

    assert lm.model is model_object
    assert [n for n, _ in lm.model.named_modules()] == module_names  # no LoRA layers left behind
    after = _state(lm.model)
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert not np.allclose(adapted["letter_logprobs"], base["letter_logprobs"], atol=1e-3, equal_nan=True)
    # the base model scores as before
    again = evaluate_multiple_choice(lm.model, lm.tokenizer, ROWS)
    np.testing.assert_array_equal(again["letter_logprobs"], base["letter_logprobs"])


def test_merged_adapter_scores_like_the_unmerged_one(tiny_llama):
    pytest.importorskip("peft")
    adapter = _nonzero_adapter(tiny_llama)
    with adapted_model(tiny_llama, LORA, adapter, merge=True) as model:
        merged = evaluate_multiple_choice(model, tiny_llama.tokenizer, ROWS)
    with adapted_model(tiny_llama, LORA, adapter, merge=False) as model:
        unmerged = evaluate_multiple_choice(model, tiny_llama.tokenizer, ROWS)
    np.testing.assert_allclose(merged["letter_logprobs"], unmerged["letter_logprobs"], atol=1e-5, equal_nan=True)
    with adapted_model(tiny_llama, LORA, None) as model:
        assert model is tiny_llama.model


def test_evaluate_model_node(tiny_llama):
    pytest.importorskip("peft")
    from data_selection.pipelines.evaluate.nodes import evaluate_model

    before = _state(tiny_llama.model)
    bundle = {"adapter": {"tensors": _nonzero_adapter(tiny_llama)}}
    params = {"batch_size": 2, "logits": "last", "merge_adapter": True}
    metrics, mlflow_metrics, predictions = evaluate_model(tiny_llama, bundle, ROWS, {"lora": LORA}, params)
    assert all(torch.equal(v, before[k]) for k, v in _state(tiny_llama.model).items())
    for name in ("accuracy", "option_nll", "letter_mass", "test_response_loss", "mmlu_accuracy", "bbh_accuracy",
                 "mmlu_option_nll", "bbh_letter_mass", "bbh_response_loss", "eval_runtime_s"):
        assert name in metrics
    assert metrics["mmlu_n"] == 2 and metrics["bbh_n"] == 3
    assert mlflow_metrics["option_nll"] == {"value": metrics["option_nll"], "step": 0}
    assert metrics["option_nll"] == pytest.approx(np.mean([p["option_nll"] for p in predictions]))
    assert metrics["bbh_accuracy"] == pytest.approx(np.mean([p["correct"] for p in predictions if p["task"] == "bbh"]))
    base_metrics, _, _ = evaluate_model(tiny_llama, {}, ROWS, {"lora": LORA}, params)
    assert base_metrics["option_nll"] != pytest.approx(metrics["option_nll"])
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_model(tiny_llama, {}, ROWS, {"lora": LORA}, {"batch_size": 0})
