"""Named instruction sources as configuration: check a source's settings, find and read its files, normalise it.

A source is configured as a mapping (in the catalog, see :class:`data_selection.io.sources.InstructionSourcesDataset`)::

    {"format": "alpaca" | "sharegpt" | "messages",   "filepath": str,  # a JSON array or JSON Lines file
     "container": "auto" | "json_array" | "json_lines",  "allow_truncated_tail": bool, "on_bad_record": ...}
    {"format": "bigbench", "path": str,  "on_bad_record": ...}          # a folder of <task>/task.json

Files are read as UTF-8 with newline translation off, so ``raw`` keeps CRLF line ends byte for byte; a
byte order mark is allowed. Framework-free (no Kedro import).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .alpaca import normalise_alpaca
from .bigbench import normalise_bigbench_tasks
from .collect import ON_BAD_RECORD
from .messages import normalise_messages
from .scan import CONTAINERS, BadRecordError
from .sharegpt import normalise_sharegpt

__all__ = ["FORMATS", "SourceSpec", "list_task_files", "normalise_source", "parse_source", "read_text"]

_FILE_NORMALISERS: dict[str, Callable[..., tuple[list[dict], list[dict]]]] = {
    "alpaca": lambda text, filename, source, **kw: normalise_alpaca(text, filename, source=source, **kw),
    "sharegpt": lambda text, filename, source, **kw: normalise_sharegpt(text, filename, source=source, **kw),
    "messages": lambda text, filename, source, **kw: normalise_messages(text, filename, source, **kw),
}
#: format -> the key naming its location ("filepath" for a file, "path" for a folder of task folders)
FORMATS: dict[str, str] = {"alpaca": "filepath", "sharegpt": "filepath", "messages": "filepath", "bigbench": "path"}
_OPTIONS: dict[str, dict[str, Any]] = {  # allowed options and their defaults (None: the pipeline's default)
    "filepath": {"on_bad_record": None, "container": "auto", "allow_truncated_tail": False},
    "path": {"on_bad_record": None},
}


def read_text(path: str | Path) -> str:
    """A file's text, decoded as UTF-8 with line ends untouched (a BOM, if any, stays as ``\\ufeff``).

    Raises:
        FileNotFoundError: the file does not exist (the message names it).
        BadRecordError: the bytes are not UTF-8 (file:line of the first bad byte).
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BadRecordError(str(path), line, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def list_task_files(folder: str | Path) -> dict[str, str]:
    """BIG-bench task files under ``folder``: task name (its folder relative to ``folder``, ``/``-separated,
    e.g. ``"subtask001_x"`` or ``"logical_deduction/three_objects"``) -> path of its ``task.json``. A
    ``task.json`` directly in ``folder`` is the single task named after the folder.

    Raises:
        FileNotFoundError: ``folder`` is not a directory or holds no ``task.json``.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"BIG-bench task folder {str(folder)!r} does not exist")
    files = {p.parent.relative_to(root).as_posix(): str(p) for p in root.rglob("task.json")}
    if "." in files:
        top = files.pop(".")
        if not files:
            files = {root.name: top}
    if not files:
        raise FileNotFoundError(f"no */task.json under {str(folder)!r}")
    return dict(sorted(files.items()))


@dataclass(frozen=True)
class SourceSpec:
    """One configured source: what :meth:`InstructionSourcesDataset.load` returns per name.

    Attributes:
        name: the source name (each record's ``source``; part of its id; what the mixture weights name).
        format: one of :data:`FORMATS`.
        location: the file (``filepath``) or the folder of task folders (``path``), as configured.
        options: the format's options with defaults filled in (``on_bad_record`` None = pipeline default).
    """

    name: str
    format: str
    location: str
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_folder(self) -> bool:
        return FORMATS[self.format] == "path"

    def files(self, subtasks: Sequence[str] | None = None) -> dict[str, str]:
        """The real files read: ``{"": filepath}`` for a file source; task name -> task.json for a folder,
        restricted to ``subtasks`` when given.

        Raises:
            FileNotFoundError: a missing file or folder. ValueError: ``subtasks`` on a file source, or
                naming unknown tasks (listed).
        """
        if not self.is_folder:
            if subtasks is not None:
                raise ValueError(f"source {self.name!r}: subtasks apply to 'bigbench' folders, not {self.format!r}")
            if not Path(self.location).is_file():
                raise FileNotFoundError(f"source {self.name!r}: file {self.location!r} does not exist")
            return {"": self.location}
        available = list_task_files(self.location)
        if subtasks is None:
            return available
        missing = [t for t in subtasks if t not in available]
        if missing:
            raise ValueError(
                f"source {self.name!r}: unknown task(s) {missing} in {self.location!r}; "
                f"available: {list(available)[:10]}..."
            )
        return {t: available[t] for t in subtasks}

    def read(self, subtasks: Sequence[str] | None = None) -> str | dict[str, str]:
        """The text of a file source, or task name -> task.json text for a folder source."""
        files = self.files(subtasks)
        if not self.is_folder:
            return read_text(files[""])
        return {name: read_text(path) for name, path in files.items()}


def parse_source(name: str, config: Mapping[str, Any]) -> SourceSpec:
    """Check one source's configuration (cheap: reads nothing) and return its :class:`SourceSpec`.

    Raises:
        ValueError: an empty name; a config that is not a mapping; a missing or unknown ``format`` (the known
            ones are listed); a missing location key (``filepath`` or ``path`` by format); an unknown option;
            ``on_bad_record`` not "error"/"skip"; ``container`` not auto/json_array/json_lines;
            ``allow_truncated_tail`` not a boolean.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a source name must be a non-empty string, got {name!r}")
    if not isinstance(config, Mapping):
        raise ValueError(f"source {name!r}: expected a mapping with 'format' and a location, got {config!r}")
    fmt = config.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"source {name!r}: unknown format {fmt!r}; known formats: {sorted(FORMATS)}")
    where = FORMATS[fmt]
    location = config.get(where)
    if not isinstance(location, (str, Path)) or not str(location):
        raise ValueError(f"source {name!r} (format {fmt!r}) needs {where!r}: the {'folder' if where == 'path' else 'file'} to read")
    allowed = _OPTIONS[where]
    unknown = sorted(set(config) - {"format", where} - set(allowed))
    if unknown:
        raise ValueError(f"source {name!r} (format {fmt!r}): unknown option(s) {unknown}; allowed: {sorted(allowed)}")
    options = {k: config.get(k, default) for k, default in allowed.items()}
    if options["on_bad_record"] is not None and options["on_bad_record"] not in ON_BAD_RECORD:
        raise ValueError(f"source {name!r}: on_bad_record must be one of {ON_BAD_RECORD}, got {options['on_bad_record']!r}")
    if "container" in options and options["container"] not in ("auto", *CONTAINERS):
        raise ValueError(f"source {name!r}: container must be 'auto', 'json_array' or 'json_lines', got {options['container']!r}")
    if "allow_truncated_tail" in options and not isinstance(options["allow_truncated_tail"], bool):
        raise ValueError(f"source {name!r}: allow_truncated_tail must be true or false, got {options['allow_truncated_tail']!r}")
    return SourceSpec(name=name, format=fmt, location=str(location), options=options)


def normalise_source(
    spec: SourceSpec, text: str | Mapping[str, str], default_on_bad_record: str = "error"
) -> tuple[list[dict], list[dict]]:
    """Normalise a source's text (from :meth:`SourceSpec.read`) to pool records and report rows.

    Records are named ``spec.name`` and their origins name ``spec.location`` (the file actually read, or
    ``<folder>/<task>/task.json``). ``on_bad_record`` is the source's own, else ``default_on_bad_record``.

    Raises:
        BadRecordError: a malformed record under "error" (file:line). ValueError: bad options.
    """
    on_bad_record = spec.options.get("on_bad_record") or default_on_bad_record
    if spec.is_folder:
        return normalise_bigbench_tasks(text, spec.location.rstrip("/"), on_bad_record, spec.name)
    kwargs = {k: v for k, v in spec.options.items() if k != "on_bad_record"}
    return _FILE_NORMALISERS[spec.format](text, spec.location, spec.name, on_bad_record=on_bad_record, **kwargs)
