"""The ``data_prep`` pipeline on hand-made sources with ``SequentialRunner`` (no packaged assets needed)."""

from __future__ import annotations

import copy
import json
import re

from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from data_selection.io.sources import InstructionSourcesDataset
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
    "pool": {
        "size": 8,
        "seed": 0,
        "mixture": {"sharegpt": 0.25, "alpaca_gpt4_demo": 0.5, "natural_instructions": 0.25},
        "subtasks": {"natural_instructions": None},
    },
    "targets": {
        "seed": 0,
        "mmlu": {"subjects": None, "validation_per_subtask": 1, "test_per_subtask": 2},
        "bbh": {"tasks": ["toy_a", "toy_b"], "validation_per_subtask": 1, "test_per_subtask": 3},
    },
}


def _sources(root: Path, alpaca: str = ALPACA, alpaca_options: dict | None = None) -> dict:
    """Hand-made sources written to files under root: the catalog config of ``instruction_sources``."""
    (root / "sharegpt.json").write_text(SHAREGPT, encoding="utf-8")
    (root / "alpaca.json").write_text(alpaca, encoding="utf-8")
    for name in ("sub_a", "sub_b"):
        (root / "ni" / name).mkdir(parents=True, exist_ok=True)
        (root / "ni" / name / "task.json").write_text(_ni_task(name, 4), encoding="utf-8")
    return {
        "sharegpt": {"format": "sharegpt", "filepath": str(root / "sharegpt.json"), "allow_truncated_tail": True},
        "alpaca_gpt4_demo": {"format": "alpaca", "filepath": str(root / "alpaca.json"), **(alpaca_options or {})},
        "natural_instructions": {"format": "bigbench", "path": str(root / "ni")},
    }


def _catalog(params: dict, sources: dict) -> DataCatalog:
    bbh = {"toy_a": (lambda: _mc_task(6)), "toy_b": (lambda: _mc_task(5, "Prefix: ")), "other": (lambda: "not json")}
    datasets = {
        "instruction_sources": InstructionSourcesDataset(sources),
        "mmlu_raw": MemoryDataset(MMLU),
        "bigbench_tasks_raw": MemoryDataset(bbh, copy_mode="assign"),
    }
    for key in ("pool", "targets", "on_bad_record"):
        datasets[f"params:data_prep.{key}"] = MemoryDataset(params[key], copy_mode="deepcopy")
    return DataCatalog(datasets=datasets)


def _run(params: dict, tmp_path: Path, alpaca: str = ALPACA, alpaca_options: dict | None = None) -> DataCatalog:
    catalog = _catalog(params, _sources(tmp_path, alpaca, alpaca_options))
    SequentialRunner().run(create_pipeline(), catalog)
    return catalog


def test_pool_mixture_and_targets(tmp_path):
    catalog = _run(copy.deepcopy(PARAMS), tmp_path)
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
        assert record["raw_container"] == "json_array"
        path, line = record["origin"].rsplit(":", 1)  # the file actually read, and the record's line in it
        assert Path(path).read_text(encoding="utf-8").splitlines()[int(line) - 1].strip().startswith("{")
        assert record["raw"] in Path(path).read_text(encoding="utf-8")

    validation, test = catalog.load("target_validation"), catalog.load("target_test")
    assert {(r["task"], r["subtask"]) for r in validation} == {
        ("mmlu", "astronomy"), ("mmlu", "virology"), ("bbh", "toy_a"), ("bbh", "toy_b")
    }
    assert len(validation) == 4 and len(test) == 2 * 2 + 3 * 2
    assert not {r["id"] for r in validation} & {r["id"] for r in test}
    assert all(r["question"].startswith("Prefix: ") for r in validation + test if r["subtask"] == "toy_b")

    report = catalog.load("bad_records_report")
    assert [(r["source"], r["action"]) for r in report] == [("sharegpt", "filtered")]  # the gpt-first conversation


def test_same_seed_same_pool_and_other_seed_differs(tmp_path):
    first = [r["id"] for r in _run(copy.deepcopy(PARAMS), tmp_path).load("pool")]
    again = [r["id"] for r in _run(copy.deepcopy(PARAMS), tmp_path).load("pool")]
    params = copy.deepcopy(PARAMS)
    params["pool"]["seed"] = 1
    other = [r["id"] for r in _run(params, tmp_path).load("pool")]
    assert first == again
    assert first != other


def test_malformed_record_stops_the_run_with_file_and_line(tmp_path):
    broken = ALPACA.replace('"output": "done 3"', '"output": ""')
    line = broken.splitlines().index('    "output": ""') - 2  # the '{' opening that record
    with pytest.raises(Exception, match=re.escape(f"{tmp_path / 'alpaca.json'}:{line}: field 'output' is empty")):
        _run(copy.deepcopy(PARAMS), tmp_path, alpaca=broken)


def test_skip_reports_the_malformed_record_instead(tmp_path):
    broken = ALPACA.replace('"output": "done 3"', '"output": ""')
    catalog = _run(copy.deepcopy(PARAMS), tmp_path, alpaca=broken, alpaca_options={"on_bad_record": "skip"})
    skipped = [r for r in catalog.load("bad_records_report") if r["action"] == "skipped"]
    assert len(skipped) == 1 and skipped[0]["source"] == "alpaca_gpt4_demo"
    line = int(skipped[0]["origin"].rsplit(":", 1)[1])
    assert '"output": ""' in broken.splitlines()[line - 1 : line + 4].__str__()


def test_unknown_bbh_task_and_empty_validation_are_clear_errors(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["targets"]["bbh"]["tasks"] = ["missing_task"]
    with pytest.raises(Exception, match="unknown task"):
        _run(params, tmp_path)
    params = copy.deepcopy(PARAMS)
    params["targets"]["mmlu"]["validation_per_subtask"] = 5  # 5 questions per subject: none left for test
    with pytest.raises(Exception, match="astronomy"):
        _run(params, tmp_path)


@pytest.mark.parametrize(
    ("mixture", "message"),
    [
        ({"sharegpt": 1, "alpaca_gpt4_demo_typo": 1}, r"alpaca_gpt4_demo_typo.*not configured"),
        ({"sharegpt": float("nan"), "alpaca_gpt4_demo": 1}, r"'sharegpt' must be a finite number >= 0, got nan"),
        ({"sharegpt": float("inf"), "alpaca_gpt4_demo": 1}, r"'sharegpt' must be a finite number >= 0, got inf"),
        ({"sharegpt": -0.5, "alpaca_gpt4_demo": 1}, r"'sharegpt' must be a finite number >= 0, got -0.5"),
        ({"sharegpt": 0, "alpaca_gpt4_demo": 0.0}, r"every mixture weight is 0"),
    ],
)
def test_bad_mixture_fails_before_any_source_is_read(tmp_path, mixture, message):
    params = copy.deepcopy(PARAMS)
    params["pool"]["mixture"] = mixture
    sources = _sources(tmp_path)
    (tmp_path / "sharegpt.json").unlink()  # reading it would fail with another message
    (tmp_path / "alpaca.json").unlink()
    with pytest.raises(Exception, match=message):
        SequentialRunner().run(create_pipeline().only_nodes("normalise_sources"), _catalog(params, sources))


def test_unknown_source_format_fails_when_the_catalog_is_built(tmp_path):
    sources = _sources(tmp_path)
    sources["alpaca_gpt4_demo"]["format"] = "alpaka"
    with pytest.raises(Exception, match=r"source 'alpaca_gpt4_demo': unknown format 'alpaka'; known formats"):
        InstructionSourcesDataset(sources)


def test_weight_zero_source_is_not_read(tmp_path):
    params = copy.deepcopy(PARAMS)
    params["pool"]["mixture"] = {"sharegpt": 0, "alpaca_gpt4_demo": 1, "natural_instructions": 0}
    params["pool"]["size"] = 4
    sources = _sources(tmp_path)
    (tmp_path / "sharegpt.json").write_text("[{broken", encoding="utf-8")  # would raise if read
    catalog = _catalog(params, sources)
    SequentialRunner().run(create_pipeline(), catalog)
    assert {r["source"] for r in catalog.load("pool")} == {"alpaca_gpt4_demo"}


def test_own_jsonl_files_as_the_whole_pool(tmp_path):
    """An Alpaca JSON Lines file (BOM, CRLF) and a messages JSON Lines file as the only sources."""
    alpaca_lines = [json.dumps({"instruction": f"Do {i}", "input": "", "output": f"ok {i}"}) for i in range(5)]
    chats = [
        json.dumps({"dataset": "x", "messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": f"yo {i}"}]})
        for i in range(5)
    ]
    (tmp_path / "mine.jsonl").write_bytes(("\ufeff" + "\r\n".join(alpaca_lines) + "\r\n").encode("utf-8"))
    (tmp_path / "chats.jsonl").write_text("\n".join(chats) + "\n", encoding="utf-8")
    sources = {
        "mine": {"format": "alpaca", "filepath": str(tmp_path / "mine.jsonl")},
        "chats": {"format": "messages", "filepath": str(tmp_path / "chats.jsonl")},
    }
    params = copy.deepcopy(PARAMS)
    params["pool"] = {"size": 6, "seed": 0, "mixture": {"mine": 1, "chats": 1}}
    catalog = _catalog(params, sources)
    SequentialRunner().run(create_pipeline(), catalog)
    pool = catalog.load("pool")
    assert sorted((r["source"], r["raw_container"]) for r in pool) == [("chats", "json_lines")] * 3 + [("mine", "json_lines")] * 3
    for r in pool:
        lines = alpaca_lines if r["source"] == "mine" else chats
        line = int(r["origin"].rsplit(":", 1)[1])
        assert r["raw"] == lines[line - 1]  # verbatim, without BOM or CR
