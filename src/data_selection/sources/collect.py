"""Shared bookkeeping for every source: record ids, per-record validation outcomes and the report.

Pool (training candidate) records are plain JSON-serialisable dicts::

    {"id": str,            # content_id(source, messages): 16 hex chars, stable across runs
     "source": str,        # the configured source name, e.g. "sharegpt", "alpaca_gpt4_demo"
     "subtask": str|None,  # the BIG-bench subtask for task-folder sources, else None
     "messages": [{"role": "user"|"assistant"|"system", "content": str}, ...],
     "raw": str,           # the record's verbatim source text (an exact substring of the input text)
     "origin": str,        # "<file actually read>:<1-based line where the record starts>"
     "raw_container": "json_array" | "json_lines"}   # how ``raw`` was stored, to write it back alike

Each normaliser returns ``(records, report)``; report rows are ``{"source", "origin", "reason", "action"}``
with action ``"skipped"`` (malformed record, only under ``on_bad_record="skip"``), ``"filtered"``
(well-formed but unusable, always reported, never an error) or ``"duplicate"`` (same id as an earlier
record of the same call; the first one is kept).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from .scan import TRUNCATED_TAIL, BadRecordError, RawRecord, iter_json_records

__all__ = [
    "ON_BAD_RECORD",
    "Collector",
    "Filtered",
    "Malformed",
    "check_on_bad_record",
    "content_id",
    "normalise_json_records",
    "require_object",
    "require_str",
]

ON_BAD_RECORD = ("error", "skip")


def content_id(source: str, messages: list[dict]) -> str:
    """Stable content hash of a record: first 16 hex chars of the SHA-256 of the canonical JSON
    ``{"source": source, "messages": messages}`` (sorted keys, no whitespace, UTF-8, ``ensure_ascii=False``)."""
    payload = json.dumps(
        {"source": source, "messages": messages}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


class Malformed(Exception):
    """Raised by per-record builders; becomes a BadRecordError or a "skipped" report row."""


class Filtered(Exception):
    """Raised by per-record builders for well-formed records that cannot be used ("filtered" row)."""


def check_on_bad_record(on_bad_record: str) -> str:
    """Return ``on_bad_record`` if it is ``"error"`` or ``"skip"``; raise ValueError otherwise."""
    if on_bad_record not in ON_BAD_RECORD:
        raise ValueError(f"on_bad_record must be one of {ON_BAD_RECORD}, got {on_bad_record!r}")
    return on_bad_record


def require_object(value: Any) -> dict:
    if not isinstance(value, dict):
        raise Malformed(f"expected a JSON object, got {type(value).__name__}")
    return value


def require_str(obj: dict, key: str, *, allow_empty: bool = False) -> str:
    if key not in obj:
        raise Malformed(f"missing field {key!r}")
    v = obj[key]
    if not isinstance(v, str):
        raise Malformed(f"field {key!r} must be a string, got {type(v).__name__}")
    if not allow_empty and not v.strip():
        raise Malformed(f"field {key!r} is empty")
    return v


def require_list(obj: dict, key: str) -> list:
    """``obj[key]``, which must be a list.

    Raises:
        Malformed: the field is missing or not a list.
    """
    if key not in obj:
        raise Malformed(f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, list):
        raise Malformed(f"field {key!r} must be a list, got {type(value).__name__}")
    return value


class Collector:
    """Accumulates the records and report rows of one source (or one target task family).

    Args:
        source: the ``source`` value of report rows.
        on_bad_record: ``"error"`` (raise BadRecordError at the first malformed record) or ``"skip"``.
        raw_container: when given, stored as every record's ``raw_container``.
    """

    def __init__(self, source: str, on_bad_record: str, raw_container: str | None = None):
        self.source = source
        self.on_bad_record = check_on_bad_record(on_bad_record)
        self.raw_container = raw_container
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

    def run(self, raw_records: Iterable[RawRecord], filename: str, build: Callable[[Any], dict]) -> None:
        """Validate each RawRecord with ``build(value) -> dict`` (which raises Malformed/Filtered); add
        ``raw``, ``origin`` (``filename:line``) and, if set, ``raw_container`` to each record built."""
        for rr in raw_records:
            origin = f"{filename}:{rr.line}"
            if rr.error == TRUNCATED_TAIL:
                self.filtered(origin, TRUNCATED_TAIL)
                continue
            if rr.error is not None:
                self.bad(filename, rr.line, rr.error)
                continue
            try:
                rec = build(rr.value)
            except Malformed as exc:
                malformed, filtered = str(exc), None
            except Filtered as exc:
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
            if self.raw_container is not None:
                rec["raw_container"] = self.raw_container
            self.add(rec)


def pool_record(source: str, messages: list[dict], subtask: str | None = None) -> dict:
    """A pool record (without ``raw``/``origin``, which the collector adds): id from the source and messages."""
    return {"id": content_id(source, messages), "source": source, "subtask": subtask, "messages": messages}


def normalise_chat_records(
    text: str,
    filename: str,
    source: str,
    to_messages: Callable[[Any], list[dict]],
    on_bad_record: str = "error",
    container: str = "auto",
    allow_truncated_tail: bool = False,
) -> tuple[list[dict], list[dict]]:
    """:func:`normalise_json_records` for formats whose record is one conversation (``to_messages``: the format's
    record -> messages, raising ``Malformed``/``Filtered``)."""
    return normalise_json_records(
        text, filename, source, lambda value: pool_record(source, to_messages(value)), on_bad_record, container,
        allow_truncated_tail,
    )


def normalise_json_records(
    text: str,
    filename: str,
    source: str,
    build: Callable[[Any], dict],
    on_bad_record: str = "error",
    container: str = "auto",
    allow_truncated_tail: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Run ``build`` over every record of a JSON array or JSON Lines file (see
    :func:`~data_selection.sources.scan.iter_json_records`); records get ``raw_container``.

    Raises:
        BadRecordError: a malformed record under "error" (file:line), an empty file, a truncated array
            without ``allow_truncated_tail``. ValueError: unknown ``on_bad_record`` or ``container``.
    """
    check_on_bad_record(on_bad_record)
    used, raw_records = iter_json_records(text, filename, container, allow_truncated_tail)
    col = Collector(source, on_bad_record, raw_container=used)
    col.run(raw_records, filename, build)
    return col.records, col.report
