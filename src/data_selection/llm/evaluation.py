"""Target-task evaluation: multiple-choice scores that separate knowing the answer from answering in format.

Every target row (MMLU or a BBH-style BIG-bench task) is a question with n lettered options. The model sees
the question as a user turn and the assistant header, and only the next-token distribution after the prompt
is read (the MMLU protocol of Hendrycks et al. 2021, §3, restricted to the option-letter tokens). With
``z`` the next-token logits over the vocabulary V, ``ℓ_j`` the logit of option letter j (j = 1..n) and
``a`` the correct option, each question gets (all in nats, natural logarithms):

* ``prediction = argmax_j ℓ_j`` (first letter on ties) and ``correct = [prediction == a]`` -> ``accuracy``;
* ``option_nll = -log softmax(ℓ)_a = logsumexp_j ℓ_j - ℓ_a``: the loss of a classifier restricted to the
  option letters; it does not depend on how much probability the model puts on the letters at all, so it
  measures knowledge, continuously (the primary metric);
* ``letter_mass = Σ_j p(letter_j) = exp(logsumexp_j ℓ_j - logsumexp_{v∈V} z_v)``: the full-vocabulary
  probability of answering with one of the option letters (the format signal), in [0, 1];
* ``response_loss = -log p(letter_a) = logsumexp_{v∈V} z_v - ℓ_a``: the full-vocabulary loss of the correct
  letter (``test_response_loss`` when averaged; kept for continuity). It mixes the two signals exactly:
  ``response_loss = option_nll - log(letter_mass)``.

Speed: only the last position's logits are computed (``logits_to_keep=1`` in transformers 5, or the decoder's
last hidden state through ``lm_head``), prompts are length-sorted into left-padded batches, and a LoRA adapter
is merged into a copy of the base weights before evaluating (:func:`adapted_model`).
"""

from __future__ import annotations

import copy
import inspect
import string
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from data_selection.llm.models import CausalLM, format_prompt, length_sorted_batches

LETTERS = string.ascii_uppercase


def question_messages(row: dict) -> list[dict]:
    """The user turn for a target row ``{task, subtask, question, choices}``."""
    options = "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(row["choices"]))
    header = (
        f"The following is a multiple choice question about {row['subtask'].replace('_', ' ')}."
        if row.get("task") == "mmlu"
        else "Answer the following multiple choice question."
    )
    return [
        {
            "role": "user",
            "content": f"{header}\n\n{row['question']}\n{options}\nAnswer with the letter of the correct option.",
        }
    ]


def answer_messages(row: dict) -> list[dict]:
    """Question plus the correct letter as the assistant turn (used for validation gradients)."""
    return question_messages(row) + [{"role": "assistant", "content": LETTERS[int(row["answer"])]}]


def letter_token_ids(tokenizer, n: int) -> list[int]:
    """Token id of each option letter "A", "B", ... as the first token after the assistant header.

    Looked up from the tokenizer, never hard-coded. Raises ``ValueError`` if a letter is not one token.
    """
    ids = []
    for letter in LETTERS[:n]:
        tokens = tokenizer(letter, add_special_tokens=False)["input_ids"]
        if len(tokens) != 1 or (tokenizer.unk_token_id is not None and tokens[0] == tokenizer.unk_token_id):
            raise ValueError(f"option letter {letter!r} is not a single known token for this tokenizer: {tokens}")
        ids.append(tokens[0])
    return ids



#: how the next-token logits are read: "last" computes them at the last position only, "full" at every
#: position (the slower path this project used before; kept for the benchmark and as a check)
LOGITS_MODES = ("last", "full")


def _forward_parameters(module) -> set[str]:
    try:
        return set(inspect.signature(module.forward).parameters)
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return set()


def last_logits_strategy(model) -> str:
    """How :func:`next_token_logprobs` gets last-position logits from ``model`` in ``"last"`` mode.

    Returns:
        ``"logits_to_keep"`` when ``model.forward`` takes ``logits_to_keep`` (transformers 5 causal LMs);
        else ``"hidden_states"`` when the model exposes ``get_decoder()`` and ``get_output_embeddings()`` and
        applies no final-logit soft-capping (the last hidden state goes through ``lm_head``); else ``"full"``
        (logits at every position, then the last one is kept).
    """
    if "logits_to_keep" in _forward_parameters(model):
        return "logits_to_keep"
    config = getattr(model, "config", None)
    if (
        callable(getattr(model, "get_decoder", None))
        and callable(getattr(model, "get_output_embeddings", None))
        and getattr(config, "final_logit_softcapping", None) is None
    ):
        try:
            if model.get_decoder() is not None and model.get_output_embeddings() is not None:
                return "hidden_states"
        except (AttributeError, NotImplementedError):
            pass
    return "full"


def _left_padded(ids: list[list[int]], pad_id: int, device) -> dict[str, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, x in enumerate(ids):
        input_ids[row, width - len(x) :] = torch.tensor(x, dtype=torch.long)
        mask[row, width - len(x) :] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}


def _model_inputs(module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The batch plus ``position_ids`` counted from each row's first real token, and ``use_cache=False``,
    where ``module.forward`` takes them (left padding then does not shift positions: a padded row scores as
    it would alone)."""
    accepted = _forward_parameters(module)
    inputs: dict[str, Any] = dict(batch)
    if "position_ids" in accepted:
        inputs["position_ids"] = (batch["attention_mask"].cumsum(dim=-1) - 1).clamp(min=0)
    if "use_cache" in accepted:
        inputs["use_cache"] = False
    return inputs


def _last_logits(model, batch: dict[str, torch.Tensor], strategy: str) -> torch.Tensor:
    if strategy == "logits_to_keep":
        return model(**_model_inputs(model, batch), logits_to_keep=1).logits[:, -1, :]
    if strategy == "hidden_states":
        decoder = model.get_decoder()
        hidden = decoder(**_model_inputs(decoder, batch)).last_hidden_state[:, -1:, :]
        return model.get_output_embeddings()(hidden)[:, -1, :]
    return model(**_model_inputs(model, batch)).logits[:, -1, :]


@torch.inference_mode()
def next_token_logprobs(
    model,
    tokenizer,
    prompts: list[str],
    token_ids: list[int] | None = None,
    batch_size: int = 8,
    logits: str = "last",
    desc: str = "scoring",
) -> np.ndarray:
    """Full-vocabulary log-probabilities of chosen next tokens after each prompt.

    ``log p(v | prompt) = z_v - logsumexp_{u∈V} z_u`` with ``z`` the next-token logits after the prompt's
    last token. Prompts are tokenised without special tokens, grouped into batches of similar token length
    (:func:`~data_selection.llm.models.length_sorted_batches`) and left-padded; position ids count from each
    row's first real token where the model takes them, so padding does not change a row's result.

    Args:
        prompts: non-empty texts ending where the next token is predicted.
        token_ids: vocabulary ids to return (k of them); ``None`` returns the whole vocabulary.
        batch_size: prompts per forward pass, >= 1.
        logits: ``"last"`` (logits at the last position only, see :func:`last_logits_strategy`) or ``"full"``
            (logits at every position, the last kept: same numbers, slower).

    Returns:
        float64 array of shape (len(prompts), k) (or (len(prompts), vocab)), rows in input order; natural log.

    Raises:
        ValueError: ``logits`` not in :data:`LOGITS_MODES`, ``batch_size`` < 1, or a prompt with no tokens.
    """
    if logits not in LOGITS_MODES:
        raise ValueError(f"logits must be one of {LOGITS_MODES}, got {logits!r}")
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    encoded = tokenizer(list(prompts), add_special_tokens=False)["input_ids"] if prompts else []
    empty = [i for i, ids in enumerate(encoded) if not ids]
    if empty:
        raise ValueError(f"prompts {empty[:5]} encode to no tokens")
    strategy = last_logits_strategy(model) if logits == "last" else "full"
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    selected = None if token_ids is None else torch.as_tensor(list(token_ids), dtype=torch.long, device=device)
    out: np.ndarray | None = None
    for batch_indices in tqdm(length_sorted_batches([len(x) for x in encoded], int(batch_size)), desc=desc, leave=False):
        batch = _left_padded([encoded[i] for i in batch_indices], pad_id, device)
        last = _last_logits(model, batch, strategy).float()
        logprobs = last - torch.logsumexp(last, dim=-1, keepdim=True)
        if selected is not None:
            logprobs = logprobs.index_select(-1, selected)
        values = logprobs.double().cpu().numpy()
        if out is None:
            out = np.empty((len(encoded), values.shape[1]), dtype=np.float64)
        out[batch_indices] = values
    if out is None:
        out = np.empty((0, 0 if token_ids is None else len(list(token_ids))), dtype=np.float64)
    return out


def check_rows(rows: list[dict]) -> None:
    """Raise ``ValueError`` unless every row has a ``task``, 2..26 ``choices`` and an ``answer`` index among them."""
    if not rows:
        raise ValueError("no evaluation rows")
    for i, row in enumerate(rows):
        missing = [k for k in ("id", "task", "subtask", "question", "choices", "answer") if k not in row]
        if missing:
            raise ValueError(f"evaluation row {i} lacks {missing}")
        n = len(row["choices"])
        if not 2 <= n <= len(LETTERS):
            raise ValueError(f"evaluation row {row['id']!r} has {n} options; 2 to {len(LETTERS)} are supported")
        answer = row["answer"]
        if isinstance(answer, bool) or int(answer) != answer or not 0 <= int(answer) < n:
            raise ValueError(f"evaluation row {row['id']!r}: answer {answer!r} is not an option index in [0, {n})")


def option_scores(letter_logprobs: np.ndarray, n_options: np.ndarray, answers: np.ndarray) -> dict[str, np.ndarray]:
    """Per-question metrics from the full-vocabulary log-probabilities of the option letters (module docstring).

    Args:
        letter_logprobs: float array (Q, K), ``log p(letter_j | prompt)`` over the whole vocabulary for letters
            A.. (K >= every n); columns beyond a question's n options are ignored.
        n_options: int array (Q,), options of each question (>= 2).
        answers: int array (Q,), correct option index in [0, n).

    Returns:
        ``{"predictions": int64 (Q,), "correct": bool (Q,), "option_nll": float64 (Q,), "letter_mass":
        float64 (Q,) in [0, 1], "response_loss": float64 (Q,)}``; losses in nats.
    """
    letter_logprobs = np.asarray(letter_logprobs, dtype=np.float64)
    n_options = np.asarray(n_options, dtype=np.int64)
    answers = np.asarray(answers, dtype=np.int64)
    valid = np.arange(letter_logprobs.shape[1])[None, :] < n_options[:, None]
    options = np.where(valid, letter_logprobs, -np.inf)
    log_mass = np.logaddexp.reduce(options, axis=1)  # log Σ_j p(letter_j)
    correct_lp = letter_logprobs[np.arange(len(answers)), answers]
    predictions = np.argmax(options, axis=1)  # first maximum on ties
    return {
        "predictions": predictions.astype(np.int64),
        "correct": predictions == answers,
        "option_nll": log_mass - correct_lp,
        "letter_mass": np.exp(log_mass),
        "response_loss": -correct_lp,
    }


def evaluate_multiple_choice(
    model, tokenizer, rows: list[dict], batch_size: int = 8, logits: str = "last", desc: str = "evaluate"
) -> dict[str, np.ndarray]:
    """Score multiple-choice rows: accuracy, option NLL, letter mass and response loss per question.

    Args:
        rows: ``{"id", "task", "subtask", "question", "choices": list[str], "answer": int}``.
        batch_size, logits: as :func:`next_token_logprobs`.

    Returns:
        :func:`option_scores`'s dict (arrays of shape (Q,), in row order) plus ``"letter_logprobs"``: float64
        (Q, K) full-vocabulary log-probabilities of letters A.. (K = most options of any row; NaN beyond a
        row's options).

    Raises:
        ValueError: as :func:`check_rows` (before any forward pass), or an option letter that is not a
            single token.
    """
    check_rows(rows)
    n_options = np.asarray([len(r["choices"]) for r in rows])
    letter_ids = letter_token_ids(tokenizer, int(n_options.max()))
    prompts = [format_prompt(tokenizer, question_messages(r)) for r in rows]
    letter_logprobs = next_token_logprobs(model, tokenizer, prompts, letter_ids, batch_size=batch_size, logits=logits, desc=desc)
    answers = np.asarray([int(r["answer"]) for r in rows])
    result = option_scores(letter_logprobs, n_options, answers)
    result["letter_logprobs"] = np.where(
        np.arange(letter_logprobs.shape[1])[None, :] < n_options[:, None], letter_logprobs, np.nan
    )
    return result


#: per-question fields averaged into metrics: result key -> (overall name, per-task suffix)
_AVERAGED = {
    "correct": ("accuracy", "accuracy"),
    "option_nll": ("option_nll", "option_nll"),
    "letter_mass": ("letter_mass", "letter_mass"),
    "response_loss": ("test_response_loss", "response_loss"),
}


def summarise(rows: list[dict], result: dict) -> dict[str, float | int]:
    """Means of the per-question scores, overall and per task (every question weighs the same).

    Returns:
        ``accuracy``, ``option_nll``, ``letter_mass``, ``test_response_loss`` over all rows, and for each task
        t (e.g. ``mmlu``, ``bbh``): ``t_accuracy``, ``t_option_nll``, ``t_letter_mass``, ``t_response_loss``
        (floats) and ``t_n`` (int, the number of questions).
    """
    task_of = np.asarray([r["task"] for r in rows])
    metrics: dict[str, float | int] = {}
    for task in sorted(set(task_of.tolist())):
        mask = task_of == task
        for key, (_, suffix) in _AVERAGED.items():
            metrics[f"{task}_{suffix}"] = float(np.mean(result[key][mask]))
        metrics[f"{task}_n"] = int(mask.sum())
    for key, (name, _) in _AVERAGED.items():
        metrics[name] = float(np.mean(result[key]))
    return metrics


def prediction_records(rows: list[dict], result: dict) -> list[dict]:
    """One JSON-ready record per question: ``id, task, subtask, answer, prediction, correct, option_nll,
    letter_mass, response_loss`` (what the comparison report bootstraps from)."""
    return [
        {
            "id": r["id"],
            "task": r["task"],
            "subtask": r["subtask"],
            "answer": int(r["answer"]),
            "prediction": int(result["predictions"][i]),
            "correct": bool(result["correct"][i]),
            "option_nll": float(result["option_nll"][i]),
            "letter_mass": float(result["letter_mass"][i]),
            "response_loss": float(result["response_loss"][i]),
        }
        for i, r in enumerate(rows)
    ]


@contextmanager
def adapted_model(
    lm: CausalLM, lora_params: dict[str, Any] | None, adapter_state: dict[str, torch.Tensor] | None, merge: bool = True
) -> Iterator[torch.nn.Module]:
    """The base model with a LoRA adapter applied, for evaluation; ``lm.model`` is unchanged afterwards.

    ``lm.model`` is shared with other nodes of the same Kedro run, so it must not stay modified.

    Args:
        lm: the shared base model and tokenizer.
        lora_params: the fine-tune's ``lora`` parameters (rank, alpha, dropout, target_modules, ...).
        adapter_state: PEFT parameter name -> tensor (the fine-tune bundle's ``adapter.tensors``); ``None`` or
            empty yields ``lm.model`` itself.
        merge: True (default) merges ``W + (alpha / r) B A`` into a deep copy of the base model
            (``peft``'s ``merge_and_unload``), so evaluation runs plain linear layers; costs one copy of the
            weights in memory. False attaches the adapter to ``lm.model`` in place, yields it unmerged and
            removes it afterwards (``unload``), for models too large to copy.

    Yields:
        a model in eval mode to pass to :func:`evaluate_multiple_choice`.

    Raises:
        ValueError: the adapter does not fit the model / LoRA configuration.
    """
    from data_selection.llm.training import attach_lora

    if not adapter_state:
        yield lm.model
        return
    if merge:
        copy_lm = CausalLM(copy.deepcopy(lm.model), lm.tokenizer, lm.name)
        merged = attach_lora(copy_lm, lora_params, adapter_state=adapter_state).merge_and_unload()
        merged.eval()
        try:
            yield merged
        finally:
            del merged, copy_lm
        return
    peft_model = attach_lora(lm, lora_params, adapter_state=adapter_state)
    try:
        peft_model.eval()
        yield peft_model.get_base_model()  # LoRA layers are injected into the base model's modules
    finally:
        lm.model = peft_model.unload()
