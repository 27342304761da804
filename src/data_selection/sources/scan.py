"""JSON scanning with exact raw text and 1-based line numbers: JSON arrays, JSON Lines, keyed arrays.

Framework-free (standard library only). Every scanner takes already-decoded text plus a display filename
used in error messages, and yields :class:`RawRecord` per element: its verbatim text (an exact substring of
the input), the line where it starts, and the parsed value or the reason it could not be parsed.

Line numbers count ``\\n`` only, so they are right for LF and CRLF files alike; a leading UTF-8 byte order
mark (``\\ufeff``) is skipped and never part of a record's raw text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BOM",
    "JSON_ARRAY",
    "JSON_LINES",
    "TRUNCATED_TAIL",
    "BadRecordError",
    "Cursor",
    "RawRecord",
    "detect_container",
    "iter_json_array",
    "iter_json_lines",
    "iter_json_records",
    "locate_key_array",
    "scan_array",
]

BOM = "\ufeff"
JSON_ARRAY = "json_array"
JSON_LINES = "json_lines"
CONTAINERS = (JSON_ARRAY, JSON_LINES)
TRUNCATED_TAIL = "truncated tail"

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_ANY_OBJECT_LINE = re.compile(r"\n[ \t]*\{")


class BadRecordError(ValueError):
    """A malformed record; the message names the file and the 1-based line, e.g.
    ``"data/sharegpt.json:123: unknown role 'robot'"``."""

    def __init__(self, filename: str, line: int, reason: str):
        self.filename = filename
        self.line = line
        self.reason = reason
        super().__init__(f"{filename}:{line}: {reason}")

    def __reduce__(self):  # keep the three-argument constructor picklable
        return (type(self), (self.filename, self.line, self.reason))


@dataclass(frozen=True)
class RawRecord:
    """One element of a JSON array / one JSON Lines line, before validation.

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


class Cursor:
    """Position in a text with its 1-based line number, advanced incrementally (never recounted from 0)."""

    __slots__ = ("text", "pos", "line")

    def __init__(self, text: str, pos: int = 0, line: int = 1):
        self.text = text
        self.pos = pos
        self.line = line

    @classmethod
    def at_start(cls, text: str) -> Cursor:
        """Cursor at the first non-blank character, after an optional byte order mark."""
        cur = cls(text)
        if text.startswith(BOM):
            cur.advance(1)
        cur.skip_ws()
        return cur

    def advance(self, new_pos: int) -> None:
        if new_pos > self.pos:
            self.line += self.text.count("\n", self.pos, new_pos)
            self.pos = new_pos

    def skip_ws(self) -> None:
        self.advance(_WS.match(self.text, self.pos).end())

    def read_value(self, filename: str):
        """Decode the JSON value at the cursor, move past it and any blank after it, and return it.

        Raises:
            BadRecordError: invalid JSON at the cursor (``filename`` and the cursor's line).
        """
        try:
            value, end = _DECODER.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as exc:
            raise BadRecordError(filename, self.line, f"invalid JSON ({exc.msg})") from None
        self.advance(end)
        self.skip_ws()
        return value

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


def _decode_error(exc: json.JSONDecodeError, text: str, start: int, line: int) -> str:
    if exc.pos > start:
        return f"invalid JSON ({exc.msg} at line {line + text.count(chr(10), start, exc.pos)})"
    return f"invalid JSON ({exc.msg})"


def scan_array(
    text: str, filename: str, cur: Cursor, allow_truncated_tail: bool, top_level: bool
) -> Iterator[RawRecord]:
    """Yield the elements of the JSON array whose ``[`` is at ``cur.pos``; leaves ``cur`` after its ``]``.

    An invalid element is yielded with ``error`` set (raw = its text up to the next element); scanning
    resumes at the next line that starts with ``{`` at the element's own indentation (so nested objects are
    never mistaken for elements), or, if there is none, the array is taken to close after it.
    """
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
                pending_error = _decode_error(exc, text, start, line)
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

        # Error path: resync at the next element-level '{' line, or close the array after this element.
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
        if close is None and top_level:
            stripped = text.rstrip()
            close_pos = len(stripped) - 1 if stripped.endswith("]") and len(stripped) - 1 >= start else -1
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
    Invalid elements are yielded with ``error`` set (see :func:`scan_array`).

    Args:
        text: the whole file content (a leading BOM is skipped).
        filename: display name for error messages.
        allow_truncated_tail: a file that ends inside the array (mid-element or before ``]``) yields one
            final ``RawRecord(error="truncated tail")`` for the unfinished element instead of raising.

    Yields:
        RawRecord per element, in file order.

    Raises:
        BadRecordError: the text does not start with ``[``; the file is truncated and
            ``allow_truncated_tail`` is False; non-whitespace text after the closing ``]``.
    """
    cur = Cursor.at_start(text)
    if cur.peek() != "[":
        raise BadRecordError(filename, cur.line, "expected a JSON array starting with '['")
    yield from scan_array(text, filename, cur, allow_truncated_tail, top_level=True)
    cur.skip_ws()
    if cur.pos < len(text):
        raise BadRecordError(filename, cur.line, "unexpected text after the closing ']' of the array")


def iter_json_lines(text: str, filename: str = "") -> Iterator[RawRecord]:
    """Scan JSON Lines: one RawRecord per non-blank line.

    Args:
        text: the whole file content; a leading BOM is skipped (it is not part of the first record).
        filename: unused (symmetry with :func:`iter_json_array`; errors are raised by the caller).

    Yields:
        RawRecord with ``raw`` = the line without its terminator (``\\n`` or ``\\r\\n``), ``line`` its
        1-based number, and ``value``/``error`` from ``json.loads``. Blank lines are skipped.
    """
    del filename
    if text.startswith(BOM):
        text = text[1:]
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


def detect_container(text: str, filename: str) -> str:
    """``"json_array"`` when the first non-blank character (after a BOM) is ``[``, else ``"json_lines"``.

    Raises:
        BadRecordError: the file is empty or blank (line 1).
    """
    cur = Cursor.at_start(text)
    c = cur.peek()
    if c == "":
        raise BadRecordError(filename, 1, "empty file: expected a JSON array or JSON Lines")
    return JSON_ARRAY if c == "[" else JSON_LINES


def iter_json_records(
    text: str, filename: str, container: str = "auto", allow_truncated_tail: bool = False
) -> tuple[str, Iterator[RawRecord]]:
    """The records of a JSON array or JSON Lines file, auto-detected unless ``container`` says which.

    Args:
        container: ``"auto"`` (see :func:`detect_container`), ``"json_array"`` or ``"json_lines"``.
        allow_truncated_tail: JSON arrays only (see :func:`iter_json_array`).

    Returns:
        (container actually used, iterator of RawRecord).

    Raises:
        ValueError: unknown ``container``. BadRecordError: an empty file (auto), or see the scanners.
    """
    if container == "auto":
        container = detect_container(text, filename)
    if container == JSON_ARRAY:
        return container, iter_json_array(text, filename, allow_truncated_tail)
    if container == JSON_LINES:
        return container, iter_json_lines(text, filename)
    raise ValueError(f"container must be 'auto', {JSON_ARRAY!r} or {JSON_LINES!r}, got {container!r}")


def locate_key_array(text: str, filename: str, key: str) -> Cursor:
    """Cursor at the ``[`` of the top-level ``key`` of the JSON object ``text`` (found with raw_decode, so a
    key-like string inside another value can never match).

    Raises:
        BadRecordError: not a JSON object, invalid JSON before the key, the key missing or not a list.
    """
    cur = Cursor.at_start(text)
    if cur.peek() != "{":
        raise BadRecordError(filename, cur.line, "expected a JSON object")
    cur.advance(cur.pos + 1)
    while True:
        cur.skip_ws()
        if cur.peek() == "}":
            break
        k = cur.read_value(filename)
        if not isinstance(k, str) or cur.peek() != ":":
            raise BadRecordError(filename, cur.line, "invalid JSON object (expected a key and ':')")
        cur.advance(cur.pos + 1)
        cur.skip_ws()
        if k == key:
            if cur.peek() != "[":
                raise BadRecordError(filename, cur.line, f"field {key!r} must be a list")
            return cur
        cur.read_value(filename)
        if cur.peek() == ",":
            cur.advance(cur.pos + 1)
    raise BadRecordError(filename, 1, f"missing field {key!r}")
