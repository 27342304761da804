"""The ``data_prep`` pipeline on hand-made sources with ``SequentialRunner`` (no packaged assets needed)."""

from __future__ import annotations

import copy
import json

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from data_selection.pipelines.data_prep import create_pipeline

SHAREGPT = json.dumps(
    [
        {"id": f"s{i}", "conversations": [{"from": "human", "value": f"question {i}"}, {"from": "gpt", "value": f"answer {i}"}]}
        for i in range(6)
    ]
    + [{"id": "g", "conversations": [{"from": "gpt", "value": "hi"}, {"from": "human", "value": "hello"}]}],
    indent=2,
)
ALPACA = json.dumps(
    [{"instruction": f"Do task {i}", "input": "" if i % 2 else f"input {i}", "output": f"done {i}"} for i in range(6)],
    indent=2,
)


def _ni_task(name: str, n: int) -> str:
    examples = [{"input": f"{name} input {i}", "target": f"{name} target {i}"} for i in range(n)]
    return json.dumps({"name": name, "description": f"Definition: solve {name}.", "examples": examples}, indent=4)


def _mc_task(n: int, prefix: str = "") -> str:
    examples = [{"input": f"Q{i}?", "target_scores": {"yes": int(i % 2 == 0), "no": int(i % 2 == 1)}} for i in range(n)]
    return json.dumps({"name": "toy", "task_prefix": prefix, "examples": examples}, indent=2)


MMLU = "\n".join(
    json.dumps(
        {"question": f"{topic} q{i}", "answer_a": "a", "answer_b": "b", "answer_c": "c", "answer_d": "d",
         "correct_answer": "ABCD"[i % 4], "topic": topic}
    )
    for topic in ("astronomy", "virology")
    for i in range(5)
)

PARAMS = {
    "on_bad_record": "error",
    "sharegpt": {"filename": "sharegpt.json", "allow_truncated_tail": True},
    "alpaca": {"filename": "alpaca.json"},
    "natural_instructions": {"subtasks": None},
    "pool": {"size": 8, "seed": 0, "mixture": {"sharegpt": 0.25, "alpaca_gpt4_demo": 0.5, "natural_instructions": 0.25}},
    "targets": {
        "seed": 0,
        "mmlu": {"subjects": None, "validation_per_subtask": 1, "test_per_subtask": 2},
        "bbh": {"tasks": ["toy_a", "toy_b"], "validation_per_subtask": 1, "test_per_subtask": 3},
    },
}


def _catalog(params: dict, alpaca: str = ALPACA) -> DataCatalog:
    ni = {"sub_a/": (lambda: _ni_task("sub_a", 4)), "sub_b/": (lambda: _ni_task("sub_b", 4))}
    bbh = {"toy_a": (lambda: _mc_task(6)), "toy_b": (lambda: _mc_task(5, "Prefix: ")), "other": (lambda: "not json")}
    return DataCatalog(
        datasets={
            "sharegpt_raw": MemoryDataset(SHAREGPT),
            "alpaca_raw": MemoryDataset(alpaca),
            "natural_instructions_raw": MemoryDataset(ni, copy_mode="assign"),
            "mmlu_raw": MemoryDataset(MMLU),
            "bigbench_tasks_raw": MemoryDataset(bbh, copy_mode="assign"),
            "params:data_prep": MemoryDataset(params, copy_mode="deepcopy"),
        }
    )


def _run(params: dict, alpaca: str = ALPACA) -> DataCatalog:
    catalog = _catalog(params, alpaca)
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def test_pool_mixture_and_targets():
    catalog = _run(copy.deepcopy(PARAMS))
    pool = catalog.load("pool")
    # 8 x (0.25, 0.5, 0.25) -> 2 ShareGPT, 4 Alpaca, 2 natural_instructions (one per subtask, round-robin)
    by_source = {}
    for record in pool:
        by_source[record["source"]] = by_source.get(record["source"], 0) + 1
    assert by_source == {"sharegpt": 2, "alpaca_gpt4_demo": 4, "natural_instructions": 2}
    assert sorted(r["subtask"] for r in pool if r["source"] == "natural_instructions") == ["sub_a", "sub_b"]
    assert len({r["id"] for r in pool}) == 8
    for record in pool:
        assert record["messages"][-1]["role"] == "assistant"
        json.loads(record["raw"])

    validation, test = catalog.load("target_validation"), catalog.load("target_test")
    assert {(r["task"], r["subtask"]) for r in validation} == {
        ("mmlu", "astronomy"), ("mmlu", "virology"), ("bbh", "toy_a"), ("bbh", "toy_b")
    }
    assert len(validation) == 4 and len(test) == 2 * 2 + 3 * 2
    assert not {r["id"] for r in validation} & {r["id"] for r in test}
    assert all(r["question"].startswith("Prefix: ") for r in validation + test if r["subtask"] == "toy_b")

    report = catalog.load("bad_records_report")
    assert [(r["source"], r["action"]) for r in report] == [("sharegpt", "filtered")]  # the gpt-first conversation


def test_same_seed_same_pool_and_other_seed_differs():
    first = [r["id"] for r in _run(copy.deepcopy(PARAMS)).load("pool")]
    again = [r["id"] for r in _run(copy.deepcopy(PARAMS)).load("pool")]
    params = copy.deepcopy(PARAMS)
    params["pool"]["seed"] = 1
    other = [r["id"] for r in _run(params).load("pool")]
    assert first == again
    assert first != other


def test_malformed_record_stops_the_run_with_file_and_line():
    broken = ALPACA.replace('"output": "done 3"', '"output": ""')
    with pytest.raises(Exception, match=r"alpaca\.json:\d+"):
        _run(copy.deepcopy(PARAMS), alpaca=broken)


def test_skip_reports_the_malformed_record_instead():
    broken = ALPACA.replace('"output": "done 3"', '"output": ""')
    params = copy.deepcopy(PARAMS)
    params["alpaca"]["on_bad_record"] = "skip"
    catalog = _run(params, alpaca=broken)
    skipped = [r for r in catalog.load("bad_records_report") if r["action"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["source"] == "alpaca_gpt4_demo"
    line = int(skipped[0]["origin"].rsplit(":", 1)[1])
    assert '"output": ""' in broken.splitlines()[line - 1 : line + 4].__str__()


def test_unknown_bbh_task_and_empty_validation_are_clear_errors():
    params = copy.deepcopy(PARAMS)
    params["targets"]["bbh"]["tasks"] = ["missing_task"]
    with pytest.raises(Exception, match="unknown task"):
        _run(params)
    params = copy.deepcopy(PARAMS)
    params["targets"]["mmlu"]["validation_per_subtask"] = 5  # 5 questions per subject: none left for test
    with pytest.raises(Exception, match="astronomy"):
        _run(params)
