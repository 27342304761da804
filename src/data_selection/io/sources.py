"""Kedro datasets for data sources: named instruction sources as configuration, and selected records
written back in their sources' own formats.

Catalog example::

    instruction_sources:
      type: data_selection.io.sources.InstructionSourcesDataset
      sources:
        alpaca_gpt4_demo: {filepath: data/01_raw/alpaca_en_demo.json, format: alpaca}
        mine: {filepath: data/01_raw/mine.jsonl, format: messages, on_bad_record: skip}

    "{method}.selected_original":
      type: data_selection.io.sources.VerbatimSubsetDataset
      path: data/07_model_output/{method}/selected_original
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from data_selection.io.datasets import atomic_directory, json_array_text
from data_selection.sources.config import SourceSpec, parse_source
from data_selection.sources.scan import JSON_ARRAY, JSON_LINES, iter_json_array, iter_json_lines

__all__ = ["InstructionSourcesDataset", "VerbatimSubsetDataset"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SUFFIX = {JSON_ARRAY: ".json", JSON_LINES: ".jsonl"}


class InstructionSourcesDataset(AbstractDataset[None, dict[str, SourceSpec]]):
    """Any number of named instruction sources (read-only). Every source is checked when the catalog is
    built, so an unknown format or option fails before any node runs; nothing is read until a node asks.

    Args:
        sources: source name -> ``{"format": "alpaca"|"sharegpt"|"messages", "filepath": ..., options}`` or
            ``{"format": "bigbench", "path": <folder of task folders>, "on_bad_record": ...}``; options are
            ``on_bad_record`` ("error"/"skip", default: the pipeline's ``data_prep.on_bad_record``),
            ``container`` ("auto"/"json_array"/"json_lines", default auto) and ``allow_truncated_tail``
            (JSON arrays cut off mid-record, default false). See :func:`data_selection.sources.parse_source`.
        metadata: free-form (kedro-viz layer).

    ``load()`` returns ``{name: SourceSpec}`` in configuration order; ``spec.files()`` lists the real files
    and ``spec.read()`` reads them (UTF-8, BOM allowed, line ends untouched).

    Raises:
        DatasetError: no sources, or a source whose configuration is invalid (the message names it).
    """

    def __init__(self, sources: Mapping[str, Mapping[str, Any]], metadata: dict[str, Any] | None = None):
        if not isinstance(sources, Mapping) or not sources:
            raise DatasetError("InstructionSourcesDataset needs at least one source under 'sources'")
        try:
            self._specs = {name: parse_source(name, cfg) for name, cfg in sources.items()}
        except ValueError as exc:
            raise DatasetError(str(exc)) from None
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {name: {"format": s.format, "location": s.location} for name, s in self._specs.items()}

    def _load(self) -> dict[str, SourceSpec]:
        return dict(self._specs)

    def _save(self, data: Any) -> None:
        raise DatasetError("InstructionSourcesDataset is read-only")

    def _exists(self) -> bool:
        return all(Path(s.location).exists() for s in self._specs.values())


class VerbatimSubsetDataset(AbstractDataset[list[dict], dict[str, list[str]]]):
    """Selected pool records written back in their sources' own formats, one file per source.

    ``save(records)`` takes pool records (``source``, ``raw``, ``raw_container``) and writes, in the order
    given, ``<path>/<source>.json`` -- a JSON array ``"[\\n" + ",\\n".join(raws) + "\\n]\\n"`` -- for
    ``raw_container == "json_array"`` and ``<path>/<source>.jsonl`` -- ``"".join(raw + "\\n")`` -- for
    ``"json_lines"``. Each record's text is byte-identical to its input (UTF-8, no re-serialisation). The
    folder is replaced as a whole (atomic). ``load()`` returns file name -> the list of raw texts it holds.

    Raises:
        DatasetError: on save, a record without ``source``/``raw``/``raw_container``, an unknown container,
            one source with two containers, or a source name that is not a safe file name; on load, a
            missing folder.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _save(self, data: Iterable[dict]) -> None:
        by_source: dict[str, tuple[str, list[str]]] = {}
        for i, record in enumerate(data):
            missing = [k for k in ("source", "raw", "raw_container") if k not in record]
            if missing:
                raise DatasetError(f"record {i} (id {record.get('id')!r}) lacks {missing}; save pool records")
            source, container = str(record["source"]), record["raw_container"]
            if container not in _SUFFIX:
                raise DatasetError(f"record {i}: unknown raw_container {container!r}; expected {sorted(_SUFFIX)}")
            if not _SAFE_NAME.match(source):
                raise DatasetError(f"source name {source!r} cannot be used as a file name")
            seen, raws = by_source.setdefault(source, (container, []))
            if seen != container:
                raise DatasetError(f"source {source!r} mixes raw containers {seen!r} and {container!r}")
            raws.append(record["raw"])
        with atomic_directory(self._path) as tmp:
            for source, (container, raws) in by_source.items():
                if container == JSON_ARRAY:
                    text = json_array_text(raws)
                else:
                    text = "".join(raw + "\n" for raw in raws)
                (tmp / f"{source}{_SUFFIX[container]}").write_bytes(text.encode("utf-8"))

    def _load(self) -> dict[str, list[str]]:
        if not self._path.is_dir():
            raise DatasetError(f"{self._path} does not exist; run the node that produces it first")
        out: dict[str, list[str]] = {}
        for file in sorted(self._path.iterdir()):
            text = file.read_bytes().decode("utf-8")
            if file.suffix == ".json":
                out[file.name] = [r.raw for r in iter_json_array(text, str(file))]
            elif file.suffix == ".jsonl":
                out[file.name] = [r.raw for r in iter_json_lines(text, str(file))]
        return out
