"""Source formats as a new user brings them: JSON Lines, BOM, CRLF, the messages schema, named sources."""

from __future__ import annotations

import json

import pytest

from data_selection.sources import (
    BadRecordError,
    SourceSpec,
    content_id,
    detect_container,
    normalise_alpaca,
    normalise_messages,
    normalise_sharegpt,
    normalise_source,
    parse_source,
)

ALPACA_ITEMS = [
    {"instruction": "Add.", "input": "2 + 2", "output": "4"},
    {"instruction": "Say hi é.", "input": "", "output": "hi"},
    {"instruction": "Bad.", "input": "", "output": ""},  # malformed: empty output
    {"instruction": "Last.", "output": "done"},
]


def _jsonl_bom_crlf(items, bad_line: int | None = None) -> str:
    """BOM + CRLF JSON Lines; ``bad_line`` (1-based) is replaced by broken JSON."""
    lines = [json.dumps(x, ensure_ascii=False) for x in items]
    if bad_line is not None:
        lines[bad_line - 1] = '{"instruction": "cut'
    return "\ufeff" + "\r\n".join(lines) + "\r\n"


def test_alpaca_jsonl_with_bom_and_crlf_keeps_raw_lines_and_origins():
    items = [ALPACA_ITEMS[i] for i in (0, 1, 3)]
    text = _jsonl_bom_crlf(items)
    assert detect_container(text, "f") == "json_lines"
    records, report = normalise_alpaca(text, "data/mine.jsonl")
    assert report == []
    assert [r["origin"] for r in records] == ["data/mine.jsonl:1", "data/mine.jsonl:2", "data/mine.jsonl:3"]
    assert [r["raw"] for r in records] == [json.dumps(x, ensure_ascii=False) for x in items]  # no BOM, no CR
    assert {r["raw_container"] for r in records} == {"json_lines"}
    assert records[0]["messages"] == [{"role": "user", "content": "Add.\n\n2 + 2"}, {"role": "assistant", "content": "4"}]


def test_alpaca_jsonl_malformed_line_errors_with_file_and_line_or_is_skipped_alone():
    text = _jsonl_bom_crlf(ALPACA_ITEMS + [{"instruction": "After.", "output": "x"}], bad_line=2)
    # line 2 is broken JSON and line 3 has an empty output: the first one stops the run
    with pytest.raises(BadRecordError) as ei:
        normalise_alpaca(text, "data/mine.jsonl")
    assert str(ei.value).startswith("data/mine.jsonl:2: invalid JSON")
    records, report = normalise_alpaca(text, "data/mine.jsonl", on_bad_record="skip")
    assert [(r["origin"], r["action"]) for r in report] == [("data/mine.jsonl:2", "skipped"), ("data/mine.jsonl:3", "skipped")]
    assert "empty" in report[1]["reason"]
    assert [r["origin"] for r in records] == ["data/mine.jsonl:1", "data/mine.jsonl:4", "data/mine.jsonl:5"]


def test_alpaca_array_with_bom_and_crlf_keeps_crlf_inside_raw():
    pretty = json.dumps(ALPACA_ITEMS[:2], indent=2, ensure_ascii=False).replace("\n", "\r\n")
    text = "\ufeff" + pretty + "\r\n"
    records, report = normalise_alpaca(text, "a.json")
    assert report == [] and {r["raw_container"] for r in records} == {"json_array"}
    assert [r["origin"] for r in records] == ["a.json:2", "a.json:7"]  # counted independently: 5 lines per item
    for r, item in zip(records, ALPACA_ITEMS[:2]):
        assert r["raw"] in text and "\r\n" in r["raw"] and json.loads(r["raw"]) == item


def test_sharegpt_jsonl_is_accepted():
    conv = {"id": "x", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]}
    records, report = normalise_sharegpt(json.dumps(conv) + "\n", "s.jsonl")
    assert report == [] and records[0]["raw_container"] == "json_lines" and records[0]["origin"] == "s.jsonl:1"


def test_messages_format_keeps_the_conversation_and_reports_unusable_records():
    good = {"dataset": "d", "id": "1", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Bye"},
        {"role": "assistant", "content": "Bye!"},
    ]}
    ends_with_user = {"messages": [{"role": "user", "content": "Hi"}]}
    robot = {"messages": [{"role": "robot", "content": "Hi"}, {"role": "assistant", "content": "x"}]}
    lines = [json.dumps(x) for x in (good, ends_with_user, robot)]
    text = "\n".join(lines) + "\n"
    with pytest.raises(BadRecordError, match=r"^chats\.jsonl:3: message 0: role must be one of"):
        normalise_messages(text, "chats.jsonl", source="chats")
    records, report = normalise_messages(text, "chats.jsonl", source="chats", on_bad_record="skip")
    assert len(records) == 1
    rec = records[0]
    assert rec["messages"] == good["messages"] and rec["source"] == "chats" and rec["subtask"] is None
    assert rec["id"] == content_id("chats", good["messages"]) and rec["raw"] == lines[0]
    assert [(r["origin"], r["action"]) for r in report] == [("chats.jsonl:2", "filtered"), ("chats.jsonl:3", "skipped")]


def test_source_name_is_part_of_the_id():
    text = json.dumps([ALPACA_ITEMS[0]])
    a, _ = normalise_alpaca(text, "a.json")
    b, _ = normalise_alpaca(text, "a.json", source="mine")
    assert a[0]["id"] == content_id("alpaca_gpt4_demo", a[0]["messages"]) != b[0]["id"] == content_id("mine", b[0]["messages"])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"format": "alpaka", "filepath": "x"}, "unknown format 'alpaka'"),
        ({"filepath": "x"}, "unknown format None"),
        ({"format": "alpaca"}, "needs 'filepath'"),
        ({"format": "bigbench", "filepath": "x"}, "needs 'path'"),
        ({"format": "alpaca", "filepath": "x", "on_bad_recrod": "skip"}, r"unknown option\(s\) \['on_bad_recrod'\]"),
        ({"format": "alpaca", "filepath": "x", "on_bad_record": "ignore"}, "on_bad_record must be one of"),
        ({"format": "alpaca", "filepath": "x", "container": "csv"}, "container must be"),
        ({"format": "bigbench", "path": "x", "container": "json_lines"}, r"unknown option\(s\) \['container'\]"),
    ],
)
def test_parse_source_rejects_bad_configuration(config, message):
    with pytest.raises(ValueError, match=message):
        parse_source("src", config)


def test_source_spec_reads_the_real_file_with_line_ends_untouched(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_bytes(_jsonl_bom_crlf(ALPACA_ITEMS[:2]).encode("utf-8"))
    spec = parse_source("mine", {"format": "alpaca", "filepath": str(path), "on_bad_record": "skip"})
    assert spec == SourceSpec("mine", "alpaca", str(path), {"on_bad_record": "skip", "container": "auto", "allow_truncated_tail": False})
    text = spec.read()
    assert "\r\n" in text and text.startswith("\ufeff")
    records, report = normalise_source(spec, text)
    assert report == [] and [r["origin"] for r in records] == [f"{path}:1", f"{path}:2"]
    missing = parse_source("gone", {"format": "alpaca", "filepath": str(tmp_path / "gone.json")})
    with pytest.raises(FileNotFoundError, match="gone.json"):
        missing.read()
    (tmp_path / "latin1.json").write_bytes(b'[\n{"instruction": "caf\xe9"}]')
    with pytest.raises(BadRecordError, match=r"latin1\.json:2: not UTF-8"):
        parse_source("l", {"format": "alpaca", "filepath": str(tmp_path / "latin1.json")}).read()


def test_bigbench_folder_source_lists_tasks_and_checks_subtasks(tmp_path):
    for name in ("t2", "t1"):
        (tmp_path / "ni" / name).mkdir(parents=True)
        task = {"description": f"Do {name}.", "examples": [{"input": "i", "target": "o"}]}
        (tmp_path / "ni" / name / "task.json").write_text(json.dumps(task, indent=2), encoding="utf-8")
    (tmp_path / "ni" / "task.json").write_text("{}", encoding="utf-8")  # the folder's own file is not a task
    spec = parse_source("ni", {"format": "bigbench", "path": str(tmp_path / "ni")})
    assert list(spec.files()) == ["t1", "t2"]
    with pytest.raises(ValueError, match=r"unknown task\(s\) \['t3'\]"):
        spec.files(["t3"])
    records, report = normalise_source(spec, spec.read(["t2"]))
    assert report == [] and [r["subtask"] for r in records] == ["t2"]
    assert records[0]["origin"] == f"{tmp_path / 'ni'}/t2/task.json:4" and records[0]["raw_container"] == "json_array"
