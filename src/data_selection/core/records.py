"""Raw instruction and evaluation sources, normalised to one record schema.

Framework-free: the standard library and NumPy only. Every function takes the raw source as already-loaded
text (``str``) plus a display filename used in error messages and in each record's ``origin``; nothing here
reads files or knows about Kedro.

Pool (training candidate) records are plain JSON-serialisable dicts::

    {"id": str,            # content_id(source, messages): 16 hex chars, stable across runs
     "source": str,        # "sharegpt" | "alpaca_gpt4_demo" | "natural_instructions"
     "subtask": str|None,  # the Natural Instructions subtask, else None
     "messages": [{"role": "user"|"assistant"|"system", "content": str}, ...],
     "raw": str,           # the record's verbatim source text (an exact substring of the input text)
     "origin": str}        # "<filename>:<1-based line where the record starts>"

Target (evaluation) rows are::

    {"id": str, "task": "mmlu"|"bbh", "subtask": str, "question": str, "choices": [str, ...],
     "answer": int (index into choices), "raw": str, "origin": str}

Each ``normalise_*`` / ``load_*`` function returns ``(records, report)``; report rows are
``{"source", "origin", "reason", "action"}`` with action ``"skipped"`` (malformed record, only under
``on_bad_record="skip"``), ``"filtered"`` (well-formed but unusable, always reported, never an error) or
``"duplicate"`` (same id as an earlier record of the same call; the first one is kept).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = [
    "BadRecordError",
    "RawRecord",
    "content_id",
    "iter_json_array",
    "iter_json_lines",
    "load_bigbench_multiple_choice",
    "load_mmlu",
    "normalise_alpaca",
    "normalise_natural_instructions",
    "normalise_sharegpt",
    "sample_mixture",
    "split_validation_test",
]

SHAREGPT = "sharegpt"
ALPACA = "alpaca_gpt4_demo"
NATURAL_INSTRUCTIONS = "natural_instructions"

#: ShareGPT ``from`` values and the role each maps to; anything else is a malformed record.
SHAREGPT_ROLES: dict[str, str] = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "assistant": "assistant",
    "system": "system",
}

TRUNCATED_TAIL = "truncated tail"
_ON_BAD_RECORD = ("error", "skip")
_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_ANY_OBJECT_LINE = re.compile(r"\n[ \t]*\{")


class BadRecordError(ValueError):
    """A malformed record; the message names the file and the 1-based line, e.g.
    ``"sharegpt.json:123: unknown role 'robot'"``."""

    def __init__(self, filename: str, line: int, reason: str):
        self.filename = filename
        self.line = line
        self.reason = reason
        super().__init__(f"{filename}:{line}: {reason}")

    def __reduce__(self):  # keep the three-argument constructor picklable
        return (type(self), (self.filename, self.line, self.reason))


@dataclass(frozen=True)
class RawRecord:
    """One element of a JSON array / one JSONL line, before validation.

    Attributes:
        raw: the element's verbatim source text, an exact substring of the scanned text.
        line: 1-based line on which the element starts.
        value: the parsed JSON value; None when ``error`` is set.
        error: why the element could not be parsed (or ``"truncated tail"``), else None.
    """

    raw: str
    line: int
    value: Any
    error: str | None


# --------------------------------------------------------------------------------------------------------
# Scanners
# --------------------------------------------------------------------------------------------------------


class _Cursor:
    """Position in a text with its 1-based line number, advanced incrementally (never recounted from 0)."""

    __slots__ = ("text", "pos", "line")

    def __init__(self, text: str, pos: int = 0, line: int = 1):
        self.text = text
        self.pos = pos
        self.line = line

    def advance(self, new_pos: int) -> None:
        if new_pos > self.pos:
            self.line += self.text.count("\n", self.pos, new_pos)
            self.pos = new_pos

    def skip_ws(self) -> None:
        self.advance(_WS.match(self.text, self.pos).end())

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""


def _line_indent(text: str, pos: int) -> str | None:
    """Whitespace before ``pos`` on its line if ``pos`` is the first non-blank character of it, else None."""
    line_start = text.rfind("\n", 0, pos) + 1
    prefix = text[line_start:pos]
    return prefix if prefix.strip(" \t") == "" else None


def _trim_bad(text: str, start: int, end: int) -> int:
    """End index of a bad element's raw text: drop trailing whitespace and one separating comma."""
    raw = text[start:end].rstrip()
    if raw.endswith(","):
        raw = raw[:-1].rstrip()
    return start + len(raw)


def _scan_array(
    text: str, filename: str, cur: _Cursor, allow_truncated_tail: bool, top_level: bool
) -> Iterator[RawRecord]:
    """Yield the elements of the JSON array whose ``[`` is at ``cur.pos``; leaves ``cur`` after its ``]``."""
    n = len(text)
    open_indent = _line_indent(text, cur.pos)
    if open_indent is None:  # '[' after a key, e.g. `    "examples": [`
        line_start = text.rfind("\n", 0, cur.pos) + 1
        open_indent = text[line_start : _WS.match(text, line_start).end()].replace("\n", "").replace("\r", "")
    close_re = re.compile(r"\n" + re.escape(open_indent) + r"\]")
    cur.advance(cur.pos + 1)
    cur.skip_ws()
    if cur.peek() == "]":
        cur.advance(cur.pos + 1)
        return

    def truncated(start: int, line: int) -> Iterator[RawRecord]:
        if not allow_truncated_tail:
            raise BadRecordError(filename, line, "file ends inside the array (truncated tail)")
        if text[start:].strip():
            yield RawRecord(raw=text[start:], line=line, value=None, error=TRUNCATED_TAIL)
        cur.advance(n)

    pending_error: str | None = None
    while True:
        cur.skip_ws()
        start, line = cur.pos, cur.line
        if start >= n:
            yield from truncated(start, line)
            return
        if pending_error is None:
            try:
                value, end = _DECODER.raw_decode(text, start)
            except json.JSONDecodeError as exc:
                pending_error = exc.msg
                if exc.pos > start:
                    err_line = line + text.count("\n", start, exc.pos)
                    pending_error = f"invalid JSON ({exc.msg} at line {err_line})"
                else:
                    pending_error = f"invalid JSON ({exc.msg})"
            else:
                yield RawRecord(raw=text[start:end], line=line, value=value, error=None)
                cur.advance(end)
                cur.skip_ws()
                c = cur.peek()
                if c == ",":
                    cur.advance(cur.pos + 1)
                    cur.skip_ws()
                    if cur.peek() == "]":  # lenient about a trailing comma
                        cur.advance(cur.pos + 1)
                        return
                    continue
                if c == "]":
                    cur.advance(cur.pos + 1)
                    return
                if c == "":
                    yield from truncated(cur.pos, cur.line)
                    return
                pending_error = f"expected ',' or ']' after the element ending on line {cur.line}"
                continue

        # Error path: the element at `start` is bad. Resync at the next line starting with '{' -- at the
        # same indentation as this element when it starts its own line (so that nested objects, such as
        # ShareGPT turns, are never mistaken for elements).
        indent = _line_indent(text, start)
        resync_re = _ANY_OBJECT_LINE if indent is None else re.compile(r"\n" + re.escape(indent) + r"\{")
        m = resync_re.search(text, start)
        close = close_re.search(text, start)
        if m is not None and (close is None or m.start() < close.start()):
            bad_end = _trim_bad(text, start, m.start())
            yield RawRecord(raw=text[start:bad_end], line=line, value=None, error=pending_error)
            pending_error = None
            cur.advance(m.start() + 1)
            continue
        # No further element: either the array closes after this bad element, or the file was cut short.
        if close is None and top_level:
            stripped = text.rstrip()
            if stripped.endswith("]") and len(stripped) - 1 >= start:
                close_pos = len(stripped) - 1
            else:
                close_pos = -1
        else:
            close_pos = close.start() + 1 + len(open_indent) if close is not None else -1
        if close_pos < 0:
            yield from truncated(start, line)
            return
        bad_end = _trim_bad(text, start, close_pos)
        yield RawRecord(raw=text[start:bad_end], line=line, value=None, error=pending_error)
        cur.advance(close_pos + 1)
        return


def iter_json_array(text: str, filename: str, allow_truncated_tail: bool = False) -> Iterator[RawRecord]:
    """Scan a JSON array ``[elem, elem, ...]`` element by element, with exact raw text and line numbers.

    Uses ``json.JSONDecoder().raw_decode`` per element and counts lines incrementally (linear in the text).
    An invalid element is yielded as ``RawRecord(value=None, error=...)`` (raw = its text up to the next
    element) and scanning resumes at the next line that starts (after whitespace) with ``{`` at the
    element's indentation; if there is none, the array is taken to close after it.

    Args:
        text: the whole file content.
        filename: display name for error messages.
        allow_truncated_tail: a file that ends inside the array (mid-element or before ``]``) yields one
            final ``RawRecord(error="truncated tail")`` for the unfinished element instead of raising.

    Yields:
        RawRecord per element, in file order.

    Raises:
        BadRecordError: the text does not start with ``[`` (line 1, after leading whitespace/BOM); the file is
            truncated and ``allow_truncated_tail`` is False; non-whitespace text after the closing ``]``.
    """
    cur = _Cursor(text)
    if text.startswith("\ufeff"):
        cur.advance(1)
    cur.skip_ws()
    if cur.peek() != "[":
        raise BadRecordError(filename, 1, "expected a JSON array starting with '['")
    yield from _scan_array(text, filename, cur, allow_truncated_tail, top_level=True)
    cur.skip_ws()
    if cur.pos < len(text):
        raise BadRecordError(filename, cur.line, "unexpected text after the closing ']' of the array")


def iter_json_lines(text: str, filename: str) -> Iterator[RawRecord]:
    """Scan JSON Lines: one RawRecord per non-blank line.

    Args:
        text: the whole file content.
        filename: display name (unused except for symmetry with :func:`iter_json_array`).

    Yields:
        RawRecord with ``raw`` = the line without its line terminator (``\\n`` or ``\\r\\n``), ``line`` its
        1-based number, and ``value``/``error`` from ``json.loads``. Blank lines are skipped.
    """
    del filename
    for i, line in enumerate(text.split("\n"), start=1):
        raw = line[:-1] if line.endswith("\r") else line
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield RawRecord(raw=raw, line=i, value=None, error=f"invalid JSON ({exc.msg})")
        else:
            yield RawRecord(raw=raw, line=i, value=value, error=None)


def content_id(source: str, messages: list[dict]) -> str:
    """Stable content hash of a record: first 16 hex chars of the SHA-256 of the canonical JSON
    ``{"source": source, "messages": messages}`` (sorted keys, no whitespace, UTF-8, ``ensure_ascii=False``)."""
    payload = json.dumps(
        {"source": source, "messages": messages}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------------------------------------
# Shared bookkeeping
# --------------------------------------------------------------------------------------------------------


class _Malformed(Exception):
    """Raised by the per-record validators; turned into BadRecordError or a "skipped" report row."""


class _Filtered(Exception):
    """Raised by the per-record validators for well-formed records that cannot be used."""


def _check_on_bad_record(on_bad_record: str) -> None:
    if on_bad_record not in _ON_BAD_RECORD:
        raise ValueError(f"on_bad_record must be one of {_ON_BAD_RECORD}, got {on_bad_record!r}")


class _Collector:
    def __init__(self, source: str, on_bad_record: str):
        _check_on_bad_record(on_bad_record)
        self.source = source
        self.on_bad_record = on_bad_record
        self.records: list[dict] = []
        self.report: list[dict] = []
        self._seen: dict[str, str] = {}

    def _row(self, origin: str, reason: str, action: str) -> None:
        self.report.append({"source": self.source, "origin": origin, "reason": reason, "action": action})

    def bad(self, filename: str, line: int, reason: str) -> None:
        if self.on_bad_record == "error":
            raise BadRecordError(filename, line, reason)
        self._row(f"{filename}:{line}", reason, "skipped")

    def filtered(self, origin: str, reason: str) -> None:
        self._row(origin, reason, "filtered")

    def add(self, record: dict) -> None:
        first = self._seen.get(record["id"])
        if first is not None:
            self._row(record["origin"], f"duplicate of {first} (id {record['id']})", "duplicate")
            return
        self._seen[record["id"]] = record["origin"]
        self.records.append(record)

    def run(self, raw_records, filename: str, origin_name: str, build) -> None:
        """Validate each RawRecord with ``build(value) -> dict`` (raising _Malformed/_Filtered)."""
        for rr in raw_records:
            origin = f"{origin_name}:{rr.line}"
            if rr.error == TRUNCATED_TAIL:
                self.filtered(origin, TRUNCATED_TAIL)
                continue
            if rr.error is not None:
                self.bad(filename, rr.line, rr.error)
                continue
            try:
                rec = build(rr.value)
            except _Malformed as exc:
                malformed, filtered = str(exc), None
            except _Filtered as exc:
                malformed, filtered = None, str(exc)
            else:
                malformed = filtered = None
            if malformed is not None:  # raised outside the except block: no chained traceback
                self.bad(filename, rr.line, malformed)
                continue
            if filtered is not None:
                self.filtered(origin, filtered)
                continue
            rec["raw"] = rr.raw
            rec["origin"] = origin
            self.add(rec)


def _require_object(value: Any) -> dict:
    if not isinstance(value, dict):
        raise _Malformed(f"expected a JSON object, got {type(value).__name__}")
    return value


def _require_str(obj: dict, key: str, *, allow_empty: bool = False) -> str:
    if key not in obj:
        raise _Malformed(f"missing field {key!r}")
    v = obj[key]
    if not isinstance(v, str):
        raise _Malformed(f"field {key!r} must be a string, got {type(v).__name__}")
    if not allow_empty and not v.strip():
        raise _Malformed(f"field {key!r} is empty")
    return v


# --------------------------------------------------------------------------------------------------------
# Pool sources
# --------------------------------------------------------------------------------------------------------


def _sharegpt_record(value: Any) -> dict:
    obj = _require_object(value)
    if "conversations" not in obj:
        raise _Malformed("missing field 'conversations'")
    conv = obj["conversations"]
    if not isinstance(conv, list):
        raise _Malformed(f"field 'conversations' must be a list, got {type(conv).__name__}")
    roles = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise _Malformed(f"turn {i} is not an object")
        who = turn.get("from")
        if not isinstance(who, str):
            raise _Malformed(f"turn {i}: missing or non-string 'from'")
        if who not in SHAREGPT_ROLES:
            raise _Malformed(f"unknown role {who!r}")
        if not isinstance(turn.get("value"), str):
            raise _Malformed(f"turn {i}: missing or non-string 'value'")
        roles.append(SHAREGPT_ROLES[who])
    if not conv:
        raise _Filtered("empty conversation")
    if len(conv) < 2:
        raise _Filtered(f"single turn ({conv[0]['from']!r}), no user->assistant pair")
    if roles[0] != "user" or roles[1] != "assistant":
        raise _Filtered(
            f"does not start with a user turn followed by an assistant turn "
            f"(starts {conv[0]['from']!r} -> {conv[1]['from']!r})"
        )
    for i in (0, 1):
        if not conv[i]["value"].strip():
            raise _Malformed(f"turn {i} ({conv[i]['from']!r}) has an empty value")
    messages = [
        {"role": "user", "content": conv[0]["value"]},
        {"role": "assistant", "content": conv[1]["value"]},
    ]
    return {"id": content_id(SHAREGPT, messages), "source": SHAREGPT, "subtask": None, "messages": messages}


def normalise_sharegpt(
    text: str, filename: str, on_bad_record: str = "error", allow_truncated_tail: bool = True
) -> tuple[list[dict], list[dict]]:
    """Normalise a ShareGPT dump ``[{"id", "conversations": [{"from", "value"}, ...]}, ...]``.

    Only the first turn pair is kept: ``messages = [user, assistant]``. Roles map via :data:`SHAREGPT_ROLES`
    (human/user -> user; gpt/chatgpt/bing/bard/assistant -> assistant; system -> system).

    * malformed (error / "skipped"): invalid JSON, not an object, missing or non-list ``conversations``, a
      turn without string ``from``/``value``, a role outside the map (``"unknown role 'robot'"``), an
      empty (whitespace-only) value in either kept turn.
    * "filtered": empty conversation, a single turn, or not starting user -> assistant (e.g. starts with
      gpt or system); the truncated last element (reason ``"truncated tail"``).

    Args:
        text: file content. filename: display name used in ``origin`` and errors.
        on_bad_record: "error" (raise at the first malformed record) or "skip" (report and go on).
        allow_truncated_tail: see :func:`iter_json_array`; the shipped file is cut off mid-record.

    Returns:
        (records, report) as described in the module docstring; ``source`` is ``"sharegpt"``.

    Raises:
        BadRecordError: a malformed record under "error"; not an array; truncated with
            ``allow_truncated_tail=False``.
        ValueError: unknown ``on_bad_record``.
    """
    col = _Collector(SHAREGPT, on_bad_record)
    col.run(iter_json_array(text, filename, allow_truncated_tail), filename, filename, _sharegpt_record)
    return col.records, col.report


def _alpaca_record(value: Any) -> dict:
    obj = _require_object(value)
    instruction = _require_str(obj, "instruction")
    output = _require_str(obj, "output")
    inp = obj.get("input", "")
    if inp is None:
        inp = ""
    if not isinstance(inp, str):
        raise _Malformed(f"field 'input' must be a string, got {type(inp).__name__}")
    user = instruction if not inp else f"{instruction}\n\n{inp}"
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": output}]
    return {"id": content_id(ALPACA, messages), "source": ALPACA, "subtask": None, "messages": messages}


def normalise_alpaca(text: str, filename: str, on_bad_record: str = "error") -> tuple[list[dict], list[dict]]:
    """Normalise an Alpaca file ``[{"instruction", "input", "output"}, ...]``.

    user = ``instruction`` if ``input`` is empty/missing, else ``instruction + "\\n\\n" + input``;
    assistant = ``output``. ``instruction`` and ``output`` must be non-empty strings; ``input`` is an
    optional string (missing or null counts as ""). Contents are kept verbatim (not stripped).

    Returns:
        (records, report); ``source`` is ``"alpaca_gpt4_demo"``, ``subtask`` None.

    Raises:
        BadRecordError: a malformed record under on_bad_record="error", a non-array or truncated file.
        ValueError: unknown ``on_bad_record``.
    """
    col = _Collector(ALPACA, on_bad_record)
    col.run(iter_json_array(text, filename, False), filename, filename, _alpaca_record)
    return col.records, col.report


def _locate_key_array(text: str, filename: str, key: str) -> _Cursor:
    """Cursor at the ``[`` of the top-level ``key`` of the JSON object ``text`` (found with raw_decode, so a
    key-like string inside another value can never match)."""
    cur = _Cursor(text)
    if text.startswith("\ufeff"):
        cur.advance(1)
    cur.skip_ws()
    if cur.peek() != "{":
        raise BadRecordError(filename, cur.line, "expected a JSON object")
    cur.advance(cur.pos + 1)
    while True:
        cur.skip_ws()
        if cur.peek() == "}":
            break
        try:
            k, end = _DECODER.raw_decode(text, cur.pos)
        except json.JSONDecodeError as exc:
            raise BadRecordError(filename, cur.line, f"invalid JSON ({exc.msg})") from None
        cur.advance(end)
        cur.skip_ws()
        if not isinstance(k, str) or cur.peek() != ":":
            raise BadRecordError(filename, cur.line, "invalid JSON object (expected a key and ':')")
        cur.advance(cur.pos + 1)
        cur.skip_ws()
        if k == key:
            if cur.peek() != "[":
                raise BadRecordError(filename, cur.line, f"field {key!r} must be a list")
            return cur
        try:
            _, end = _DECODER.raw_decode(text, cur.pos)
        except json.JSONDecodeError as exc:
            raise BadRecordError(filename, cur.line, f"invalid JSON ({exc.msg})") from None
        cur.advance(end)
        cur.skip_ws()
        if cur.peek() == ",":
            cur.advance(cur.pos + 1)
    raise BadRecordError(filename, 1, f"missing field {key!r}")


def _bigbench_task(text: str, filename: str, col: _Collector) -> tuple[dict, _Cursor] | None:
    """Parse a BIG-bench task.json as a whole and locate its "examples" array.

    Returns None (after reporting under "skip") when the file itself is malformed."""
    try:
        try:
            task = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRecordError(filename, exc.lineno, f"invalid JSON ({exc.msg})") from None
        if not isinstance(task, dict):
            raise BadRecordError(filename, 1, "expected a JSON object")
        return task, _locate_key_array(text, filename, "examples")
    except BadRecordError as exc:
        col.bad(exc.filename, exc.line, exc.reason)
        return None


def _ni_example(description: str, subtask: str):
    def build(value: Any) -> dict:
        obj = _require_object(value)
        inp = _require_str(obj, "input")
        if "target" not in obj:
            raise _Malformed("missing field 'target'")
        target = obj["target"]
        if isinstance(target, list):
            if not target:
                raise _Malformed("field 'target' is an empty list")
            target = target[0]
        if not isinstance(target, str):
            raise _Malformed(f"field 'target' must be a string, got {type(target).__name__}")
        if not target.strip():
            raise _Malformed("field 'target' is empty")
        messages = [
            {"role": "user", "content": f"{description}\n\n{inp}"},
            {"role": "assistant", "content": target},
        ]
        return {
            "id": content_id(NATURAL_INSTRUCTIONS, messages),
            "source": NATURAL_INSTRUCTIONS,
            "subtask": subtask,
            "messages": messages,
        }

    return build


def normalise_natural_instructions(
    task_texts: Mapping[str, str], filename_prefix: str, on_bad_record: str = "error"
) -> tuple[list[dict], list[dict]]:
    """Normalise BIG-bench ``natural_instructions`` subtasks.

    Args:
        task_texts: subtask name (e.g. ``"subtask001_quoref_question_generation"``) -> text of its
            ``task.json``: an object with ``"description"`` (non-empty string) and
            ``"examples": [{"input": str, "target": str | [str, ...]}, ...]``. Processed in sorted name order.
        filename_prefix: origins are ``f"{filename_prefix}/{subtask}/task.json:{line}"``.
        on_bad_record: "error" or "skip".

    Each example becomes user = ``description.strip() + "\\n\\n" + input``, assistant = ``target`` (its first
    element if a list). ``raw`` is the example's exact text inside the task file and ``line`` the line
    where it starts. A task file that is not valid JSON, lacks ``examples`` or a usable ``description`` is
    malformed as a whole (under "skip" one report row for the file, at the error's line).

    Returns:
        (records, report); ``source`` is ``"natural_instructions"``, ``subtask`` the subtask name.

    Raises:
        BadRecordError: a malformed task file or example under "error".
        ValueError: unknown ``on_bad_record``.
    """
    col = _Collector(NATURAL_INSTRUCTIONS, on_bad_record)
    for subtask in sorted(task_texts):
        text = task_texts[subtask]
        filename = f"{filename_prefix}/{subtask}/task.json"
        located = _bigbench_task(text, filename, col)
        if located is None:
            continue
        task, cur = located
        description = task.get("description")
        if not isinstance(description, str) or not description.strip():
            col.bad(filename, 1, "missing, empty or non-string 'description'")
            continue
        examples = _scan_array(text, filename, cur, allow_truncated_tail=False, top_level=False)
        col.run(examples, filename, filename, _ni_example(description.strip(), subtask))
    return col.records, col.report


# --------------------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------------------

_LETTERS = ("A", "B", "C", "D")


def _target_id(task: str, subtask: str, question: str, choices: list[str], answer: int) -> str:
    user = "\n".join([question, *choices])
    return content_id(
        f"{task}/{subtask}",
        [{"role": "user", "content": user}, {"role": "assistant", "content": choices[answer]}],
    )


def load_mmlu(text: str, filename: str, on_bad_record: str = "error") -> tuple[list[dict], list[dict]]:
    """Load MMLU from JSON Lines ``{"question", "answer_a".."answer_d", "correct_answer": "A".."D", "topic"}``.

    Rows whose ``correct_answer`` is the literal ``"answer"`` (stray CSV header rows) are reported as
    "filtered". ``question`` and ``topic`` must be non-empty strings, the four answers strings (an empty
    answer string is allowed), ``correct_answer`` one of A-D; anything else is malformed.

    Returns:
        (rows, report); rows are ``{"id", "task": "mmlu", "subtask": topic, "question", "choices": [a, b, c,
        d], "answer": 0..3, "raw": the line, "origin": "file:line"}``. ``id`` hashes task, topic, question,
        choices and the correct choice; identical rows are reported as "duplicate".

    Raises:
        BadRecordError: a malformed line under "error". ValueError: unknown ``on_bad_record``.
    """
    col = _Collector("mmlu", on_bad_record)

    def build(value: Any) -> dict:
        obj = _require_object(value)
        if obj.get("correct_answer") == "answer":
            raise _Filtered("header row (correct_answer == 'answer')")
        question = _require_str(obj, "question")
        topic = _require_str(obj, "topic")
        choices = [_require_str(obj, f"answer_{c}", allow_empty=True) for c in "abcd"]
        letter = obj.get("correct_answer")
        if letter not in _LETTERS:
            raise _Malformed(f"correct_answer must be one of A-D, got {letter!r}")
        answer = _LETTERS.index(letter)
        return {
            "id": _target_id("mmlu", topic, question, choices, answer),
            "task": "mmlu",
            "subtask": topic,
            "question": question,
            "choices": choices,
            "answer": answer,
        }

    col.run(iter_json_lines(text, filename), filename, filename, build)
    return col.records, col.report


def load_bigbench_multiple_choice(
    task_texts: Mapping[str, str], filename_prefix: str, on_bad_record: str = "error"
) -> tuple[list[dict], list[dict]]:
    """Load BIG-bench multiple-choice tasks (``examples: [{"input", "target_scores": {choice: score}}]``).

    Args:
        task_texts: task name (e.g. ``"date_understanding"``, ``"logical_deduction/three_objects"``) -> text
            of its task.json. Processed in sorted name order.
        filename_prefix: origins are ``f"{filename_prefix}/{task}/task.json:{line}"``.
        on_bad_record: "error" or "skip".

    ``question`` = ``task_prefix + input`` when the task object has a string ``task_prefix`` (prepended
    verbatim, as BIG-bench does), else ``input``. ``choices`` = the target_scores keys in file order;
    ``answer`` = index of the unique maximum score. Malformed: missing/empty input, target_scores not a
    non-empty object of numeric scores, fewer than 2 choices, or a tied maximum.

    Returns:
        (rows, report); rows ``{"id", "task": "bbh", "subtask": task name, "question", "choices",
        "answer", "raw", "origin"}``.

    Raises:
        BadRecordError: a malformed task file or example under "error". ValueError: unknown ``on_bad_record``.
    """
    col = _Collector("bbh", on_bad_record)
    for name in sorted(task_texts):
        text = task_texts[name]
        filename = f"{filename_prefix}/{name}/task.json"
        located = _bigbench_task(text, filename, col)
        if located is None:
            continue
        task, cur = located
        prefix = task.get("task_prefix")
        if prefix is not None and not isinstance(prefix, str):
            col.bad(filename, 1, "'task_prefix' must be a string")
            continue
        prefix = prefix or ""

        def build(value: Any, name: str = name, prefix: str = prefix) -> dict:
            obj = _require_object(value)
            inp = _require_str(obj, "input")
            scores = obj.get("target_scores")
            if not isinstance(scores, dict) or not scores:
                raise _Malformed("missing or empty 'target_scores' object")
            for k, v in scores.items():
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise _Malformed(f"target_scores[{k!r}] must be a number, got {v!r}")
            if len(scores) < 2:
                raise _Malformed("target_scores needs at least 2 choices")
            choices = list(scores)
            values = list(scores.values())
            best = max(values)
            winners = [i for i, v in enumerate(values) if v == best]
            if len(winners) != 1:
                raise _Malformed(f"target_scores has {len(winners)} choices with the max score {best}")
            question = prefix + inp
            return {
                "id": _target_id("bbh", name, question, choices, winners[0]),
                "task": "bbh",
                "subtask": name,
                "question": question,
                "choices": choices,
                "answer": winners[0],
            }

        col.run(_scan_array(text, filename, cur, False, top_level=False), filename, filename, build)
    return col.records, col.report


def _name_seed(name: str) -> int:
    """Stable (across processes and Python versions) 64-bit integer from a name."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def split_validation_test(
    rows: list[dict], n_validation_per_subtask: int, n_test_per_subtask: int | None, seed: int
) -> tuple[list[dict], list[dict]]:
    """Split target rows per subtask into disjoint validation and test sets.

    For each subtask (sorted names), its rows (input order) are permuted by
    ``np.random.default_rng([seed, sha256(subtask)[:8]])`` -- derived from the subtask *name*, so adding or
    removing another subtask never changes this one's split. The first ``n_validation_per_subtask`` go to
    validation, the next ``n_test_per_subtask`` (None: all the rest; if fewer remain, all the rest) to test.

    Args:
        rows: dicts with a ``"subtask"`` key (not mutated; the same dict objects are returned).
        n_validation_per_subtask: >= 1.
        n_test_per_subtask: >= 1, or None.
        seed: non-negative integer.

    Returns:
        (validation, test), each ordered by subtask name then shuffled order.

    Raises:
        ValueError: n_validation_per_subtask < 1, n_test_per_subtask < 1, a negative seed, or a subtask with
            fewer than ``n_validation_per_subtask + 1`` rows (the message names it).
    """
    if isinstance(n_validation_per_subtask, bool) or int(n_validation_per_subtask) != n_validation_per_subtask:
        raise ValueError(f"n_validation_per_subtask must be an integer, got {n_validation_per_subtask!r}")
    if n_validation_per_subtask < 1:
        raise ValueError(f"n_validation_per_subtask must be >= 1, got {n_validation_per_subtask}")
    if n_test_per_subtask is not None and n_test_per_subtask < 1:
        raise ValueError(f"n_test_per_subtask must be >= 1 or None, got {n_test_per_subtask}")
    seed = _check_seed(seed)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["subtask"], []).append(row)
    validation: list[dict] = []
    test: list[dict] = []
    for subtask in sorted(groups):
        group = groups[subtask]
        need = n_validation_per_subtask + 1
        if len(group) < need:
            raise ValueError(
                f"subtask {subtask!r} has {len(group)} examples, needs at least {need} "
                f"({n_validation_per_subtask} validation + 1 test)"
            )
        order = np.random.default_rng([seed, _name_seed(str(subtask))]).permutation(len(group))
        shuffled = [group[i] for i in order]
        validation.extend(shuffled[:n_validation_per_subtask])
        rest = shuffled[n_validation_per_subtask:]
        test.extend(rest if n_test_per_subtask is None else rest[:n_test_per_subtask])
    return validation, test


def _largest_remainder(size: int, weights: dict[str, Fraction]) -> dict[str, int]:
    """Counts proportional to weights summing exactly to size; ties in the remainder go to the
    alphabetically first source."""
    total = sum(weights.values())
    quotas = {s: size * w / total for s, w in weights.items()}
    counts = {s: int(q) for s, q in quotas.items()}  # floor (quotas are >= 0)
    left = size - sum(counts.values())
    for s in sorted(quotas, key=lambda s: (-(quotas[s] - counts[s]), s))[:left]:
        counts[s] += 1
    return counts


def sample_mixture(
    records_by_source: Mapping[str, list[dict]], size: int, mixture: Mapping[str, float], seed: int
) -> list[dict]:
    """Seeded sample of ``size`` pool records mixed across sources.

    Weights are normalised; per-source counts use largest-remainder rounding of ``size * weight`` (exact
    rational arithmetic on the given floats) so they sum to ``size``; ties in the remainder go to the
    source whose name sorts first (size 7, weights 1/1/1 over a/b/c -> 3/2/2). Sources in
    ``records_by_source`` with no weight get 0. Each source is sampled with its own generator
    ``np.random.default_rng([seed, sha256(source)[:8]])``:

    * a source whose records all have a non-None ``"subtask"`` (natural_instructions): each subtask's
      records are permuted, then taken round-robin over subtasks in sorted order (counts per subtask
      differ by at most one unless a subtask runs out; the first subtasks in sorted order take the extra);
    * otherwise: ``rng.choice(n, count, replace=False)``.

    Args:
        records_by_source: source name -> list of pool records (not mutated; the same dicts are returned).
        size: total number of records, >= 1.
        mixture: source name -> weight >= 0, with a positive sum.
        seed: non-negative integer.

    Returns:
        The sampled records ordered by source name (sorted) then sampled order.

    Raises:
        ValueError: size < 1; a negative or non-finite weight; all weights 0; a positively weighted source
            missing from ``records_by_source`` (named); a source with fewer records than its count
            (``"source X has N records, mixture needs M"``); a negative seed.
    """
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    seed = _check_seed(seed)
    weights: dict[str, Fraction] = {}
    for source, w in mixture.items():
        w = float(w)
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"mixture weight for source {source!r} must be a finite number >= 0, got {w!r}")
        if w > 0:
            if source not in records_by_source:
                raise ValueError(
                    f"mixture weights source {source!r}, which is not among the sources "
                    f"{sorted(records_by_source)}"
                )
            weights[source] = Fraction(w)
    if not weights:
        raise ValueError("mixture weights sum to 0: give at least one positive weight")
    counts = _largest_remainder(size, weights)
    for source in sorted(counts):
        n = len(records_by_source[source])
        if counts[source] > n:
            raise ValueError(f"source {source!r} has {n} records, mixture needs {counts[source]}")

    out: list[dict] = []
    for source in sorted(counts):
        count = counts[source]
        if count == 0:
            continue
        records = records_by_source[source]
        rng = np.random.default_rng([seed, _name_seed(source)])
        if all(r.get("subtask") is not None for r in records):
            groups: dict[str, list[dict]] = {}
            for r in records:
                groups.setdefault(r["subtask"], []).append(r)
            queues = []
            for name in sorted(groups):
                g = groups[name]
                queues.append([g[i] for i in rng.permutation(len(g))])
            taken: list[dict] = []
            depth = 0
            while len(taken) < count:
                for q in queues:
                    if depth < len(q):
                        taken.append(q[depth])
                        if len(taken) == count:
                            break
                depth += 1
            out.extend(taken)
        else:
            idx = rng.choice(len(records), size=count, replace=False)
            out.extend(records[i] for i in idx)
    return out
