"""Nodes of ``data_prep``: thin wrappers around :mod:`data_selection.core.records`."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from data_selection.core import records as rec

logger = logging.getLogger(__name__)


def _on_bad_record(params: dict[str, Any], source: str) -> str:
    """Per-source ``on_bad_record`` (``error`` or ``skip``), falling back to the global setting."""
    return (params.get(source) or {}).get("on_bad_record", params["on_bad_record"])


def normalise_sharegpt(text: str, params: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """ShareGPT first turns (human -> gpt) in the pool schema, and the report of what was left out."""
    records, report = rec.normalise_sharegpt(
        text,
        params["sharegpt"]["filename"],
        on_bad_record=_on_bad_record(params, "sharegpt"),
        allow_truncated_tail=bool(params["sharegpt"].get("allow_truncated_tail", True)),
    )
    logger.info("ShareGPT: %d usable first turns, %d reported", len(records), len(report))
    return records, report


def normalise_alpaca(text: str, params: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Alpaca-GPT4 demo records (instruction [+ input] -> output) in the pool schema."""
    records, report = rec.normalise_alpaca(text, params["alpaca"]["filename"], on_bad_record=_on_bad_record(params, "alpaca"))
    logger.info("Alpaca-GPT4 demo: %d records, %d reported", len(records), len(report))
    return records, report


def _load_partitions(partitions: Mapping[str, Callable[[], str]], wanted: list[str] | None, what: str) -> dict[str, str]:
    available = {key.strip("/"): load for key, load in partitions.items()}
    names = sorted(available) if wanted is None else list(wanted)
    missing = [n for n in names if n not in available]
    if missing:
        raise ValueError(f"{what}: unknown task(s) {missing}; available: {sorted(available)[:10]}...")
    return {n: available[n]() for n in names}


def normalise_natural_instructions(
    partitions: Mapping[str, Callable[[], str]], params: dict[str, Any]
) -> tuple[list[dict], list[dict]]:
    """BIG-bench ``natural_instructions`` subtasks (definition + input -> target), subtask kept as a column."""
    texts = _load_partitions(partitions, params["natural_instructions"].get("subtasks"), "natural_instructions")
    records, report = rec.normalise_natural_instructions(
        texts, "natural_instructions", on_bad_record=_on_bad_record(params, "natural_instructions")
    )
    logger.info("natural_instructions: %d records from %d subtasks", len(records), len(texts))
    return records, report


def build_pool(
    sharegpt: list[dict], alpaca: list[dict], natural_instructions: list[dict], params: dict[str, Any]
) -> list[dict]:
    """The selection pool: a seeded mixture of the normalised sources (``pool.size``, ``pool.mixture``)."""
    pool_params = params["pool"]
    pool = rec.sample_mixture(
        {"sharegpt": sharegpt, "alpaca_gpt4_demo": alpaca, "natural_instructions": natural_instructions},
        size=int(pool_params["size"]),
        mixture=dict(pool_params["mixture"]),
        seed=int(pool_params["seed"]),
    )
    if not pool:
        raise ValueError("the selection pool is empty")
    return pool


def merge_reports(*reports: list[dict]) -> list[dict]:
    """One report of every record that was skipped, filtered or de-duplicated, from all sources."""
    return [row for report in reports for row in report]


def prepare_targets(
    mmlu_text: str, bbh_partitions: Mapping[str, Callable[[], str]], params: dict[str, Any]
) -> tuple[list[dict], list[dict], list[dict]]:
    """Target tasks with disjoint validation (few-shot, per subtask) and held-out test splits.

    Returns:
        (validation rows, test rows, report). Rows carry ``task`` (``mmlu``/``bbh``) and ``subtask``.

    Raises:
        ValueError: a subtask without enough examples for its validation split, or no target task.
    """
    targets = params["targets"]
    seed = int(targets["seed"])
    validation, test, report = [], [], []
    if targets.get("mmlu"):
        cfg = targets["mmlu"]
        rows, rep = rec.load_mmlu(mmlu_text, "mmlu.jsonl", on_bad_record=params["on_bad_record"])
        if cfg.get("subjects"):
            wanted = set(cfg["subjects"])
            unknown = wanted - {r["subtask"] for r in rows}
            if unknown:
                raise ValueError(f"unknown MMLU subjects: {sorted(unknown)}")
            rows = [r for r in rows if r["subtask"] in wanted]
        val, tst = rec.split_validation_test(rows, int(cfg["validation_per_subtask"]), cfg.get("test_per_subtask"), seed)
        validation += val
        test += tst
        report += rep
    if targets.get("bbh"):
        cfg = targets["bbh"]
        texts = _load_partitions(bbh_partitions, list(cfg["tasks"]), "BIG-bench")
        rows, rep = rec.load_bigbench_multiple_choice(texts, "bigbench", on_bad_record=params["on_bad_record"])
        val, tst = rec.split_validation_test(rows, int(cfg["validation_per_subtask"]), cfg.get("test_per_subtask"), seed)
        validation += val
        test += tst
        report += rep
    if not validation:
        raise ValueError("no target task configured: enable data_prep.targets.mmlu and/or .bbh")
    logger.info("targets: %d validation and %d test questions", len(validation), len(test))
    return validation, test, report
