"""Chat files in the open-instruct / LESS schema: ``{"messages": [{"role", "content"}, ...], ...}``.

The whole conversation is kept (training and scoring use the last assistant turn as the response and the
turns before it as the prompt); other keys of the record (``dataset``, ``id``, ...) are ignored.
"""

from __future__ import annotations

from typing import Any

from .collect import Filtered, Malformed, normalise_chat_records, require_list, require_object

__all__ = ["MESSAGE_ROLES", "chat_messages", "normalise_messages"]

MESSAGE_ROLES = ("system", "user", "assistant")


def chat_messages(value: Any) -> list[dict]:
    """The record's ``messages`` as ``[{"role", "content"}, ...]`` (extra keys of a turn dropped).

    Raises:
        Malformed: not an object; ``messages`` missing or not a list; a turn that is not an object, whose
            ``role`` is not one of :data:`MESSAGE_ROLES` or whose ``content`` is not a string; a blank last
            assistant turn.
        Filtered: an empty conversation; a last turn that is not the assistant's; no user turn before it.
    """
    obj = require_object(value)
    turns = require_list(obj, "messages")
    messages = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise Malformed(f"message {i} is not an object")
        role, content = turn.get("role"), turn.get("content")
        if role not in MESSAGE_ROLES:
            raise Malformed(f"message {i}: role must be one of {MESSAGE_ROLES}, got {role!r}")
        if not isinstance(content, str):
            raise Malformed(f"message {i}: missing or non-string 'content'")
        messages.append({"role": role, "content": content})
    if not messages:
        raise Filtered("empty conversation")
    if messages[-1]["role"] != "assistant":
        raise Filtered(f"last message is {messages[-1]['role']!r}, not 'assistant'")
    if not any(m["role"] == "user" for m in messages[:-1]):
        raise Filtered("no user message before the last assistant message")
    if not messages[-1]["content"].strip():
        raise Malformed(f"message {len(messages) - 1} (the last assistant message) is empty")
    return messages


def normalise_messages(
    text: str,
    filename: str,
    source: str,
    on_bad_record: str = "error",
    container: str = "auto",
    allow_truncated_tail: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Normalise a ``{"messages": [...]}`` file (JSON array or JSON Lines) to pool records.

    Args:
        text: file content. filename: the file actually read (``origin`` and errors).
        source: the configured source name (the ``source`` field; part of every record's id).
        on_bad_record: "error" or "skip". container: "auto", "json_array" or "json_lines".
        allow_truncated_tail: JSON arrays only (see :func:`~data_selection.sources.scan.iter_json_array`).

    Returns:
        (records, report); ``subtask`` None; see :func:`chat_messages` for what is malformed or filtered.

    Raises:
        BadRecordError: a malformed record under "error", an empty or truncated file.
        ValueError: unknown ``on_bad_record`` or ``container``.
    """

    return normalise_chat_records(text, filename, source, chat_messages, on_bad_record, container, allow_truncated_tail)
