"""BIG-bench task folders (``<folder>/<task>/task.json``): the shared task loop and instruction tasks.

A task file is a JSON object with an ``"examples"`` array; every example keeps its verbatim text and the
line where it starts inside the task file. :func:`iter_task_examples` is the one loop over task files, used
by the instruction source below (``natural_instructions``-style tasks) and by the multiple-choice targets in
:mod:`data_selection.sources.targets`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from .collect import Collector, Malformed, pool_record, require_object, require_str
from .scan import JSON_ARRAY, BadRecordError, RawRecord, locate_key_array, scan_array

__all__ = ["iter_task_examples", "normalise_bigbench_tasks", "normalise_natural_instructions", "task_filename"]

DEFAULT_SOURCE = "natural_instructions"


def task_filename(folder: str, task: str) -> str:
    """``f"{folder}/{task}/task.json"``: the file a task's text was read from."""
    return f"{folder}/{task}/task.json"


def _parse_task(text: str, filename: str, col: Collector):
    """The task object and a cursor at its "examples" array; None (after col.bad) for a malformed file."""
    try:
        try:
            task = json.loads(text[1:] if text.startswith("\ufeff") else text)
        except json.JSONDecodeError as exc:
            raise BadRecordError(filename, exc.lineno, f"invalid JSON ({exc.msg})") from None
        if not isinstance(task, dict):
            raise BadRecordError(filename, 1, "expected a JSON object")
        return task, locate_key_array(text, filename, "examples")
    except BadRecordError as exc:
        col.bad(exc.filename, exc.line, exc.reason)
        return None


def iter_task_examples(
    task_texts: Mapping[str, str], folder: str, col: Collector
) -> Iterator[tuple[str, str, dict, Iterator[RawRecord]]]:
    """For each task in sorted name order: ``(name, filename, task object, its examples as RawRecords)``.

    A task file that is not valid JSON, not an object, or lacks an ``"examples"`` list is reported through
    ``col.bad`` (raises under "error", one "skipped" row for the file under "skip") and not yielded. The
    examples iterator must be consumed before the next task is requested.
    """
    for name in sorted(task_texts):
        text = task_texts[name]
        filename = task_filename(folder, name)
        located = _parse_task(text, filename, col)
        if located is None:
            continue
        task, cur = located
        yield name, filename, task, scan_array(text, filename, cur, allow_truncated_tail=False, top_level=False)


def _instruction_example(source: str, description: str, subtask: str):
    def build(value: Any) -> dict:
        obj = require_object(value)
        inp = require_str(obj, "input")
        if "target" not in obj:
            raise Malformed("missing field 'target'")
        target = obj["target"]
        if isinstance(target, list):
            if not target:
                raise Malformed("field 'target' is an empty list")
            target = target[0]
        if not isinstance(target, str):
            raise Malformed(f"field 'target' must be a string, got {type(target).__name__}")
        if not target.strip():
            raise Malformed("field 'target' is empty")
        messages = [
            {"role": "user", "content": f"{description}\n\n{inp}"},
            {"role": "assistant", "content": target},
        ]
        return pool_record(source, messages, subtask)

    return build


def normalise_bigbench_tasks(
    task_texts: Mapping[str, str], folder: str, on_bad_record: str = "error", source: str = DEFAULT_SOURCE
) -> tuple[list[dict], list[dict]]:
    """Normalise BIG-bench instruction tasks (``natural_instructions`` subtasks and the like) to pool records.

    Args:
        task_texts: task name (e.g. ``"subtask001_quoref_question_generation"``) -> text of its
            ``task.json``: an object with ``"description"`` (non-empty string) and
            ``"examples": [{"input": str, "target": str | [str, ...]}, ...]``. Processed in sorted name order.
        folder: the folder the tasks were read from; origins are ``f"{folder}/{task}/task.json:{line}"``.
        on_bad_record: "error" or "skip".
        source: the configured source name.

    Each example becomes user = ``description.strip() + "\\n\\n" + input``, assistant = ``target`` (its first
    element if a list); ``subtask`` = the task name; ``raw_container`` = ``"json_array"`` (an element of the
    task's examples array). A task file that is malformed as a whole is one bad record at its error's line.

    Returns:
        (records, report).

    Raises:
        BadRecordError: a malformed task file or example under "error". ValueError: unknown ``on_bad_record``.
    """
    col = Collector(source, on_bad_record, raw_container=JSON_ARRAY)
    for name, filename, task, examples in iter_task_examples(task_texts, folder, col):
        description = task.get("description")
        if not isinstance(description, str) or not description.strip():
            col.bad(filename, 1, "missing, empty or non-string 'description'")
            continue
        col.run(examples, filename, _instruction_example(source, description.strip(), name))
    return col.records, col.report


def normalise_natural_instructions(
    task_texts: Mapping[str, str], filename_prefix: str, on_bad_record: str = "error"
) -> tuple[list[dict], list[dict]]:
    """:func:`normalise_bigbench_tasks` with ``source="natural_instructions"``."""
    return normalise_bigbench_tasks(task_texts, filename_prefix, on_bad_record, DEFAULT_SOURCE)
