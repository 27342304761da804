"""Nodes of ``data_prep``: thin wrappers around :mod:`data_selection.sources`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from data_selection import sources as src
from data_selection.sources.config import SourceSpec

logger = logging.getLogger(__name__)


def _check_pool_params(pool: Mapping[str, Any], sources: Mapping[str, SourceSpec]) -> tuple[dict, dict]:
    """Mixture, size and subtasks checked against the configured sources: (positive weights, subtasks)."""
    weights = src.check_mixture(pool["mixture"], sources)
    size = pool.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"data_prep.pool.size must be a positive integer, got {size!r}")
    subtasks = dict(pool.get("subtasks") or {})
    for name, wanted in subtasks.items():
        if name not in sources:
            raise ValueError(f"data_prep.pool.subtasks names source {name!r}, which is not configured: {list(sources)}")
        if wanted is not None and not sources[name].is_folder:
            raise ValueError(f"data_prep.pool.subtasks.{name}: only 'bigbench' folder sources have subtasks")
        if wanted is not None and (isinstance(wanted, str) or not all(isinstance(t, str) for t in wanted)):
            raise ValueError(f"data_prep.pool.subtasks.{name} must be null or a list of task names, got {wanted!r}")
    return weights, subtasks


def normalise_sources(
    sources: Mapping[str, SourceSpec], pool: Mapping[str, Any], on_bad_record: str
) -> tuple[dict[str, list[dict]], list[dict]]:
    """Every source with a positive mixture weight, normalised to pool records (in configuration order).

    The mixture, pool size and subtasks are checked first, before any file is read. Sources configured but
    weighted 0 (or not in the mixture) are not read and map to an empty list.

    Args:
        sources: ``instruction_sources`` (name -> SourceSpec).
        pool: ``data_prep.pool`` (``mixture``, ``size``, optional ``subtasks: {source: [task, ...] | null}``).
        on_bad_record: ``data_prep.on_bad_record``, for sources that do not set their own.

    Returns:
        (records by source name, report rows of every source read).

    Raises:
        ValueError: see :func:`data_selection.sources.check_mixture`; a bad size or subtasks entry.
        BadRecordError: a malformed record in a source under "error" (the file actually read and its line).
    """
    weights, subtasks = _check_pool_params(pool, sources)
    records_by_source: dict[str, list[dict]] = {}
    report: list[dict] = []
    for name, spec in sources.items():
        if name not in weights:
            records_by_source[name] = []
            logger.info("source %s: weight 0, not read", name)
            continue
        records, rows = src.normalise_source(spec, spec.read(subtasks.get(name)), on_bad_record)
        records_by_source[name] = records
        report += rows
        logger.info("source %s (%s, %s): %d records, %d reported", name, spec.format, spec.location, len(records), len(rows))
    return records_by_source, report


def build_pool(records_by_source: Mapping[str, list[dict]], pool: Mapping[str, Any]) -> list[dict]:
    """The selection pool: a seeded mixture of the normalised sources (``pool.size``, ``pool.mixture``)."""
    return src.sample_mixture(
        records_by_source, size=int(pool["size"]), mixture=dict(pool["mixture"]), seed=int(pool["seed"])
    )


def merge_reports(*reports: list[dict]) -> list[dict]:
    """One report of every record that was skipped, filtered or de-duplicated, from all sources."""
    return [row for report in reports for row in report]


def _load_partitions(partitions: Mapping[str, Callable[[], str]], wanted: list[str], what: str) -> dict[str, str]:
    available = {key.strip("/"): load for key, load in partitions.items()}
    missing = [n for n in wanted if n not in available]
    if missing:
        raise ValueError(f"{what}: unknown task(s) {missing}; available: {sorted(available)[:10]}...")
    return {n: available[n]() for n in wanted}


def prepare_targets(
    mmlu_text: str, bbh_partitions: Mapping[str, Callable[[], str]], targets: dict[str, Any], on_bad_record: str
) -> tuple[list[dict], list[dict], list[dict]]:
    """Target tasks with disjoint validation (few-shot, per subtask) and held-out test splits.

    Args:
        targets: ``data_prep.targets``: ``seed``; ``mmlu`` (``subjects``, ``validation_per_subtask``,
            ``test_per_subtask``); ``bbh`` (``tasks``, the same sizes, ``shuffle_options``, default true: each
            question's options are permuted by a seed derived from its id, see
            :func:`data_selection.sources.shuffle_choices`).
        on_bad_record: ``data_prep.on_bad_record``.

    Returns:
        (validation rows, test rows, report). Rows carry ``task`` (``mmlu``/``bbh``) and ``subtask``.

    Raises:
        ValueError: a subtask without enough examples for its validation split, or no target task.
    """
    seed = int(targets["seed"])
    validation, test, report = [], [], []
    if targets.get("mmlu"):
        cfg = targets["mmlu"]
        rows, rep = src.load_mmlu(mmlu_text, "mmlu.jsonl", on_bad_record=on_bad_record)
        if cfg.get("subjects"):
            wanted = set(cfg["subjects"])
            unknown = wanted - {r["subtask"] for r in rows}
            if unknown:
                raise ValueError(f"unknown MMLU subjects: {sorted(unknown)}")
            rows = [r for r in rows if r["subtask"] in wanted]
        val, tst = src.split_validation_test(rows, int(cfg["validation_per_subtask"]), cfg.get("test_per_subtask"), seed)
        validation += val
        test += tst
        report += rep
    if targets.get("bbh"):
        cfg = targets["bbh"]
        texts = _load_partitions(bbh_partitions, list(cfg["tasks"]), "BIG-bench")
        rows, rep = src.load_bigbench_multiple_choice(
            texts, "bigbench", on_bad_record=on_bad_record, shuffle_options=bool(cfg.get("shuffle_options", True))
        )
        val, tst = src.split_validation_test(rows, int(cfg["validation_per_subtask"]), cfg.get("test_per_subtask"), seed)
        validation += val
        test += tst
        report += rep
    if not validation:
        raise ValueError("no target task configured: enable data_prep.targets.mmlu and/or .bbh")
    logger.info("targets: %d validation and %d test questions", len(validation), len(test))
    return validation, test, report
