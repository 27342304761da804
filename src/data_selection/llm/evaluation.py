"""Target-task evaluation: multiple-choice accuracy by answer-letter log-likelihood, and response loss.

Every target row (MMLU or a BBH-style BIG-bench task) is a question with lettered options. The model sees
the question as a user turn and the assistant header; the prediction is the option letter whose token has
the highest next-token log-probability among the option letters (the MMLU protocol of Hendrycks et al. 2021,
§3, restricted to the letter tokens). The response loss is -log p(correct letter | prompt) over the whole
vocabulary, averaged over the test split.
"""

from __future__ import annotations

import string

import numpy as np
import torch
from tqdm.auto import tqdm

from data_selection.llm.models import format_prompt

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


@torch.no_grad()
def next_token_logprobs(model, tokenizer, prompts: list[str], batch_size: int = 8, desc: str = "scoring") -> list[torch.Tensor]:
    """Log-softmax of the next-token distribution after each prompt (left-padded batches).

    Args:
        prompts: texts ending where the next token is predicted.

    Returns:
        list of float32 tensors of shape (vocab,), one per prompt, in input order.
    """
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list[torch.Tensor | None] = [None] * len(prompts)
    device = next(model.parameters()).device
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
            idx = order[start : start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            enc = {k: v.to(device) for k, v in enc.items()}
            logits = model(**enc).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1).cpu()
            for row, i in enumerate(idx):
                out[i] = logprobs[row]
    finally:
        tokenizer.padding_side = side
    return out  # type: ignore[return-value]


def evaluate_multiple_choice(model, tokenizer, rows: list[dict], batch_size: int = 8, desc: str = "evaluate") -> dict:
    """Accuracy and response loss on multiple-choice rows.

    Args:
        rows: ``{"id", "task", "subtask", "question", "choices": list[str], "answer": int}``.

    Returns:
        ``{"predictions": int array (n,), "correct": bool array (n,), "loss": float array (n,)}``; loss in nats.
    """
    if not rows:
        raise ValueError("no evaluation rows")
    max_choices = max(len(r["choices"]) for r in rows)
    letter_ids = torch.tensor(letter_token_ids(tokenizer, max_choices))
    prompts = [format_prompt(tokenizer, question_messages(r)) for r in rows]
    logprobs = next_token_logprobs(model, tokenizer, prompts, batch_size=batch_size, desc=desc)
    predictions, losses = [], []
    for row, lp in zip(rows, logprobs):
        n = len(row["choices"])
        option_lp = lp[letter_ids[:n]]
        predictions.append(int(torch.argmax(option_lp)))
        losses.append(float(-lp[letter_ids[int(row["answer"])]]))
    predictions = np.asarray(predictions)
    answers = np.asarray([int(r["answer"]) for r in rows])
    return {"predictions": predictions, "correct": predictions == answers, "loss": np.asarray(losses)}


def summarise(rows: list[dict], result: dict) -> dict[str, float]:
    """Metrics per task: ``<task>_accuracy``, ``<task>_loss`` and ``test_response_loss`` over all rows."""
    tasks = sorted({r["task"] for r in rows})
    metrics: dict[str, float] = {}
    task_of = np.asarray([r["task"] for r in rows])
    for task in tasks:
        mask = task_of == task
        metrics[f"{task}_accuracy"] = float(result["correct"][mask].mean())
        metrics[f"{task}_loss"] = float(result["loss"][mask].mean())
        metrics[f"{task}_n"] = int(mask.sum())
    metrics["test_response_loss"] = float(result["loss"].mean())
    return metrics
