"""Alpaca instruction files: ``{"instruction", "input", "output"}`` records (JSON array or JSON Lines)."""

from __future__ import annotations

from typing import Any

from .collect import Malformed, normalise_chat_records, require_object, require_str

__all__ = ["alpaca_messages", "normalise_alpaca"]

DEFAULT_SOURCE = "alpaca_gpt4_demo"


def alpaca_messages(value: Any) -> list[dict]:
    """user = ``instruction`` if ``input`` is empty/missing/null, else ``instruction + "\\n\\n" + input``;
    assistant = ``output``; contents verbatim (not stripped).

    Raises:
        Malformed: not an object, ``instruction``/``output`` missing, non-string or blank, ``input`` not a
            string or null.
    """
    obj = require_object(value)
    instruction = require_str(obj, "instruction")
    output = require_str(obj, "output")
    inp = obj.get("input", "")
    if inp is None:
        inp = ""
    if not isinstance(inp, str):
        raise Malformed(f"field 'input' must be a string, got {type(inp).__name__}")
    user = instruction if not inp else f"{instruction}\n\n{inp}"
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}]


def normalise_alpaca(
    text: str,
    filename: str,
    on_bad_record: str = "error",
    source: str = DEFAULT_SOURCE,
    container: str = "auto",
    allow_truncated_tail: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Normalise an Alpaca file (a JSON array or JSON Lines, auto-detected) to pool records.

    Args:
        text: file content (UTF-8 decoded; a BOM and CRLF line ends are fine).
        filename: the file actually read; used in ``origin`` and errors.
        on_bad_record: "error" (raise at the first malformed record) or "skip" (report it and go on).
        source: the configured source name (the ``source`` field; part of every record's id).
        container: "auto", "json_array" or "json_lines".
        allow_truncated_tail: JSON arrays only: report a cut-off last element instead of raising.

    Returns:
        (records, report) as described in :mod:`data_selection.sources.collect`; ``subtask`` None.

    Raises:
        BadRecordError: a malformed record under "error", an empty or truncated file.
        ValueError: unknown ``on_bad_record`` or ``container``.
    """

    return normalise_chat_records(text, filename, source, alpaca_messages, on_bad_record, container, allow_truncated_tail)
