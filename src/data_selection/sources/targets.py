"""Evaluation targets: MMLU (JSON Lines) and BIG-bench multiple-choice tasks, as multiple-choice rows.

Rows are::

    {"id": str, "task": "mmlu"|"bbh", "subtask": str, "question": str, "choices": [str, ...],
     "answer": int (index into choices), "raw": str, "origin": str}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .bigbench import iter_task_examples
from .collect import Collector, Filtered, Malformed, content_id, require_object, require_str
from .mixture import name_seed
from .scan import iter_json_lines

__all__ = ["load_bigbench_multiple_choice", "load_mmlu", "shuffle_choices"]

_LETTERS = ("A", "B", "C", "D")


def _target_id(task: str, subtask: str, question: str, choices: list[str], answer: int) -> str:
    user = "\n".join([question, *choices])
    return content_id(
        f"{task}/{subtask}",
        [{"role": "user", "content": user}, {"role": "assistant", "content": choices[answer]}],
    )


def shuffle_choices(row: dict) -> dict:
    """A copy of a multiple-choice row with its choices permuted and ``answer`` following the permutation.

    The permutation is ``np.random.default_rng(name_seed("options/" + row["id"])).permutation(n)``: a
    function of the question id only (SHA-256 based, never Python's salted ``hash()``), so it is the same in
    every run and process and independent of which other questions are loaded. New position ``j`` holds old
    choice ``perm[j]``; the new ``answer`` is the ``j`` with ``perm[j] == old answer``. ``id`` is unchanged.
    This removes the position bias of BIG-bench files, whose ``target_scores`` often list the correct
    choice first (issue 6, item 1).
    """
    n = len(row["choices"])
    perm = np.random.default_rng(name_seed("options/" + row["id"])).permutation(n)
    out = dict(row)
    out["choices"] = [row["choices"][i] for i in perm]
    out["answer"] = int(np.flatnonzero(perm == int(row["answer"]))[0])
    return out


def load_mmlu(text: str, filename: str, on_bad_record: str = "error") -> tuple[list[dict], list[dict]]:
    """Load MMLU from JSON Lines ``{"question", "answer_a".."answer_d", "correct_answer": "A".."D", "topic"}``.

    Options keep their file order (MMLU's answer positions are already balanced). Rows whose
    ``correct_answer`` is the literal ``"answer"`` (stray CSV header rows) are reported as "filtered".
    ``question`` and ``topic`` must be non-empty strings, the four answers strings (an empty answer string
    is allowed), ``correct_answer`` one of A-D; anything else is malformed.

    Returns:
        (rows, report); rows ``{"id", "task": "mmlu", "subtask": topic, "question", "choices": [a, b, c, d],
        "answer": 0..3, "raw": the line, "origin": "file:line"}``. ``id`` hashes task, topic, question,
        choices and the correct choice; identical rows are reported as "duplicate".

    Raises:
        BadRecordError: a malformed line under "error". ValueError: unknown ``on_bad_record``.
    """
    col = Collector("mmlu", on_bad_record)

    def build(value: Any) -> dict:
        obj = require_object(value)
        if obj.get("correct_answer") == "answer":
            raise Filtered("header row (correct_answer == 'answer')")
        question = require_str(obj, "question")
        topic = require_str(obj, "topic")
        choices = [require_str(obj, f"answer_{c}", allow_empty=True) for c in "abcd"]
        letter = obj.get("correct_answer")
        if letter not in _LETTERS:
            raise Malformed(f"correct_answer must be one of A-D, got {letter!r}")
        answer = _LETTERS.index(letter)
        return {
            "id": _target_id("mmlu", topic, question, choices, answer),
            "task": "mmlu",
            "subtask": topic,
            "question": question,
            "choices": choices,
            "answer": answer,
        }

    col.run(iter_json_lines(text, filename), filename, build)
    return col.records, col.report


def _multiple_choice_example(name: str, prefix: str):
    def build(value: Any) -> dict:
        obj = require_object(value)
        inp = require_str(obj, "input")
        scores = obj.get("target_scores")
        if not isinstance(scores, dict) or not scores:
            raise Malformed("missing or empty 'target_scores' object")
        for k, v in scores.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise Malformed(f"target_scores[{k!r}] must be a number, got {v!r}")
        if len(scores) < 2:
            raise Malformed("target_scores needs at least 2 choices")
        choices = list(scores)
        values = list(scores.values())
        best = max(values)
        winners = [i for i, v in enumerate(values) if v == best]
        if len(winners) != 1:
            raise Malformed(f"target_scores has {len(winners)} choices with the max score {best}")
        question = prefix + inp
        return {
            "id": _target_id("bbh", name, question, choices, winners[0]),
            "task": "bbh",
            "subtask": name,
            "question": question,
            "choices": choices,
            "answer": winners[0],
        }

    return build


def load_bigbench_multiple_choice(
    task_texts: Mapping[str, str], filename_prefix: str, on_bad_record: str = "error", shuffle_options: bool = True
) -> tuple[list[dict], list[dict]]:
    """Load BIG-bench multiple-choice tasks (``examples: [{"input", "target_scores": {choice: score}}]``).

    Args:
        task_texts: task name (e.g. ``"date_understanding"``, ``"logical_deduction/three_objects"``) -> text
            of its task.json. Processed in sorted name order.
        filename_prefix: the folder the tasks were read from; origins are
            ``f"{filename_prefix}/{task}/task.json:{line}"``.
        on_bad_record: "error" or "skip".
        shuffle_options: True (default): each question's choices are permuted by :func:`shuffle_choices`
            (seeded by its id). False: the order of ``target_scores`` in the file, as BIG-bench ships it,
            where the correct choice is often first (e.g. ~99% "A" in date_understanding).

    ``question`` = ``task_prefix + input`` when the task object has a string ``task_prefix`` (prepended
    verbatim, as BIG-bench does), else ``input``. ``answer`` = index of the unique maximum score. ``id``
    hashes the file order, so it is the same with or without shuffling. Malformed: missing/empty input,
    target_scores not a non-empty object of numeric scores, fewer than 2 choices, or a tied maximum.

    Returns:
        (rows, report); rows ``{"id", "task": "bbh", "subtask": task name, "question", "choices",
        "answer", "raw", "origin"}``.

    Raises:
        BadRecordError: a malformed task file or example under "error". ValueError: unknown ``on_bad_record``.
    """
    col = Collector("bbh", on_bad_record)
    for name, filename, task, examples in iter_task_examples(task_texts, filename_prefix, col):
        prefix = task.get("task_prefix")
        if prefix is not None and not isinstance(prefix, str):
            col.bad(filename, 1, "'task_prefix' must be a string")
            continue
        col.run(examples, filename, _multiple_choice_example(name, prefix or ""))
    rows = [shuffle_choices(r) for r in col.records] if shuffle_options else col.records
    return rows, col.report
