"""BIG-bench options are shuffled by question id: deterministic, answer-preserving, balanced on the shipped tasks."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from data_selection.sources import load_bigbench_multiple_choice, shuffle_choices

SHIPPED_TASKS = [
    "date_understanding",
    "logical_deduction/three_objects",
    "causal_judgment",
    "navigate",
    "sports_understanding",
    "snarks",
]


def _shipped_texts() -> dict[str, str]:
    spec = importlib.util.find_spec("bigbench")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the bigbench package is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "benchmark_tasks"
    return {t: (root / t / "task.json").read_text(encoding="utf-8") for t in SHIPPED_TASKS}


def _positions_ok(rows) -> list[str]:
    """Tasks (per number of options) where one answer position holds more than 1/n + 0.1 of the questions."""
    groups: dict[tuple[str, int], Counter] = {}
    for r in rows:
        groups.setdefault((r["subtask"], len(r["choices"])), Counter())[r["answer"]] += 1
    bad = []
    for (task, n), counts in groups.items():
        total = sum(counts.values())
        if max(counts.values()) / total > 1 / n + 0.1:
            bad.append(f"{task} ({n} options): {dict(counts)}")
    return bad


def test_shuffle_follows_the_documented_seed_and_keeps_the_answer():
    row = {"id": "0123456789abcdef", "subtask": "t", "choices": ["a", "b", "c", "d", "e"], "answer": 3, "raw": "{}"}
    seed = int.from_bytes(hashlib.sha256(b"options/0123456789abcdef").digest()[:8], "big")
    perm = np.random.default_rng(seed).permutation(5)
    out = shuffle_choices(row)
    assert out["choices"] == [row["choices"][i] for i in perm]
    assert out["choices"][out["answer"]] == "d" and sorted(out["choices"]) == row["choices"]
    assert row["choices"] == ["a", "b", "c", "d", "e"] and out["id"] == row["id"] and out["raw"] == "{}"


def test_shuffle_is_the_same_in_another_process_with_another_hash_seed():
    row = {"id": "feedface00000000", "choices": list("abcdefg"), "answer": 0}
    code = (
        "import json,sys; from data_selection.sources import shuffle_choices; "
        "print(json.dumps(shuffle_choices(json.loads(sys.argv[1]))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code, json.dumps(row)], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == shuffle_choices(row)


def test_shipped_tasks_are_balanced_after_the_shuffle_and_were_not_before():
    texts = _shipped_texts()
    raw_rows, _ = load_bigbench_multiple_choice(texts, "bigbench", on_bad_record="skip", shuffle_options=False)
    rows, _ = load_bigbench_multiple_choice(texts, "bigbench", on_bad_record="skip")
    assert {r["subtask"] for r in rows} == set(SHIPPED_TASKS)
    assert any(b.startswith("date_understanding") for b in _positions_ok(raw_rows))  # the bias this removes
    assert _positions_ok(rows) == []
    again, _ = load_bigbench_multiple_choice(texts, "bigbench", on_bad_record="skip")
    assert again == rows  # deterministic
    for before, after in zip(raw_rows, rows):
        assert after["id"] == before["id"] and after["choices"][after["answer"]] == before["choices"][before["answer"]]
    assert sum(a["choices"] != b["choices"] for a, b in zip(rows, raw_rows)) > len(rows) / 2
