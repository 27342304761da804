"""ShareGPT dumps: ``{"id", "conversations": [{"from", "value"}, ...]}`` records; the first turn pair is kept."""

from __future__ import annotations

from typing import Any

from .collect import Filtered, Malformed, normalise_json_records, pool_record, require_list, require_object

__all__ = ["SHAREGPT_ROLES", "normalise_sharegpt", "sharegpt_messages"]

DEFAULT_SOURCE = "sharegpt"

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


def sharegpt_messages(value: Any) -> list[dict]:
    """``[user, assistant]`` from the first two turns of a ShareGPT conversation.

    Raises:
        Malformed: not an object, missing or non-list ``conversations``, a turn without string
            ``from``/``value``, a role outside :data:`SHAREGPT_ROLES`, an empty value in either kept turn.
        Filtered: an empty conversation, a single turn, or one not starting user -> assistant.
    """
    obj = require_object(value)
    conv = require_list(obj, "conversations")
    roles = []
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise Malformed(f"turn {i} is not an object")
        who = turn.get("from")
        if not isinstance(who, str):
            raise Malformed(f"turn {i}: missing or non-string 'from'")
        if who not in SHAREGPT_ROLES:
            raise Malformed(f"unknown role {who!r}")
        if not isinstance(turn.get("value"), str):
            raise Malformed(f"turn {i}: missing or non-string 'value'")
        roles.append(SHAREGPT_ROLES[who])
    if not conv:
        raise Filtered("empty conversation")
    if len(conv) < 2:
        raise Filtered(f"single turn ({conv[0]['from']!r}), no user->assistant pair")
    if roles[0] != "user" or roles[1] != "assistant":
        raise Filtered(
            f"does not start with a user turn followed by an assistant turn "
            f"(starts {conv[0]['from']!r} -> {conv[1]['from']!r})"
        )
    for i in (0, 1):
        if not conv[i]["value"].strip():
            raise Malformed(f"turn {i} ({conv[i]['from']!r}) has an empty value")
    return [{"role": "user", "content": conv[0]["value"]}, {"role": "assistant", "content": conv[1]["value"]}]


def normalise_sharegpt(
    text: str,
    filename: str,
    on_bad_record: str = "error",
    allow_truncated_tail: bool = True,
    source: str = DEFAULT_SOURCE,
    container: str = "auto",
) -> tuple[list[dict], list[dict]]:
    """Normalise a ShareGPT dump (JSON array or JSON Lines) to pool records ``messages = [user, assistant]``.

    Args:
        text: file content. filename: the file actually read (``origin`` and errors).
        on_bad_record: "error" (raise at the first malformed record) or "skip" (report and go on).
        allow_truncated_tail: JSON arrays only; the packaged dump is cut off mid-record, so its last element
            is reported as "filtered" (reason ``"truncated tail"``) instead of raising.
        source: the configured source name. container: "auto", "json_array" or "json_lines".

    Returns:
        (records, report); see :func:`sharegpt_messages` for what is malformed or filtered.

    Raises:
        BadRecordError: a malformed record under "error"; an empty file; a truncated array with
            ``allow_truncated_tail=False``. ValueError: unknown ``on_bad_record`` or ``container``.
    """

    def build(value: Any) -> dict:
        messages = sharegpt_messages(value)
        return pool_record(source, messages)

    return normalise_json_records(text, filename, source, build, on_bad_record, container, allow_truncated_tail)
