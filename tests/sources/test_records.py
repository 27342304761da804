"""Tests for data_selection.sources (scanning, formats, targets, mixture): hand-made inputs only (no installed asset packages)."""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from data_selection.sources import (
    BadRecordError,
    RawRecord,
    content_id,
    iter_json_array,
    iter_json_lines,
    load_bigbench_multiple_choice,
    load_mmlu,
    normalise_alpaca,
    normalise_natural_instructions,
    normalise_sharegpt,
    sample_mixture,
    split_validation_test,
)


def _conv(cid, *turns):
    return {"id": cid, "conversations": [{"from": f, "value": v} for f, v in turns]}


def _pretty(items) -> str:
    return json.dumps(items, indent=2, ensure_ascii=False)


def _id_line(text: str, value: str) -> int:
    """Line of the '{' that opens the pretty-printed object whose "id" (or "input") is value."""
    return _line_of(text, json.dumps(value)) - 1


def _line_of(text: str, needle: str) -> int:
    """1-based line of the first occurrence of needle, counted independently of the code under test."""
    return text[: text.index(needle)].count("\n") + 1


# ----------------------------------------------------------------------------------------------------------
# Scanners
# ----------------------------------------------------------------------------------------------------------


def test_iter_json_array_raw_is_exact_substring_with_lines():
    items = [{"a": 1, "s": "x\ny é"}, {"b": [1, 2, {"c": None}]}, {"d": "}{,]["}]
    text = _pretty(items)
    recs = list(iter_json_array(text, "f.json"))
    assert [r.error for r in recs] == [None, None, None]
    assert [r.value for r in recs] == items
    pos = 0
    for rec, item in zip(recs, items):
        start = text.index(rec.raw, pos)
        assert text[start : start + len(rec.raw)] == rec.raw
        assert json.loads(rec.raw) == item
        assert rec.raw.startswith("{") and rec.raw.endswith("}")
        assert rec.line == text[:start].count("\n") + 1
        pos = start + len(rec.raw)
    assert [r.line for r in recs] == [2, 6, 15]


def test_iter_json_array_compact_and_empty():
    assert list(iter_json_array("[]", "f")) == []
    assert list(iter_json_array("  \n [ ] \n", "f")) == []
    recs = list(iter_json_array('[{"a":1},{"a":2},\n3]', "f"))
    assert [(r.raw, r.line, r.value) for r in recs] == [('{"a":1}', 1, {"a": 1}), ('{"a":2}', 1, {"a": 2}), ("3", 2, 3)]


def test_iter_json_array_not_an_array():
    with pytest.raises(BadRecordError) as ei:
        list(iter_json_array('{"a": 1}', "x.json"))
    assert ei.value.filename == "x.json" and ei.value.line == 1
    assert str(ei.value).startswith("x.json:1: ")
    with pytest.raises(BadRecordError):
        list(iter_json_array("", "x.json"))


def test_iter_json_array_trailing_garbage_raises_with_line():
    with pytest.raises(BadRecordError) as ei:
        list(iter_json_array('[\n{"a": 1}\n]\nxyz', "g.json"))
    assert ei.value.line == 4


def test_iter_json_array_truncated_tail_both_modes():
    full = _pretty([{"id": 1, "v": "one"}, {"id": 2, "v": "two"}, {"id": 3, "v": "three"}])
    cut = full[: full.index('"three"') + 3]  # ends inside the third element
    with pytest.raises(BadRecordError) as ei:
        list(iter_json_array(cut, "t.json"))
    assert ei.value.line == _line_of(cut, '"id": 3') - 1  # the '{' line of element 3
    assert "truncated" in ei.value.reason
    recs = list(iter_json_array(cut, "t.json", allow_truncated_tail=True))
    assert [r.value for r in recs[:2]] == [{"id": 1, "v": "one"}, {"id": 2, "v": "two"}]
    tail = recs[2]
    assert tail.error == "truncated tail" and tail.value is None
    assert cut.endswith(tail.raw) and tail.raw.startswith("{")
    assert tail.line == _line_of(cut, '"id": 3') - 1
    assert len(recs) == 3


def test_iter_json_array_missing_closing_bracket_after_complete_element():
    text = '[\n  {"a": 1},\n  {"a": 2}\n'
    with pytest.raises(BadRecordError):
        list(iter_json_array(text, "m.json"))
    recs = list(iter_json_array(text, "m.json", allow_truncated_tail=True))
    assert [r.value for r in recs] == [{"a": 1}, {"a": 2}]  # nothing unfinished: no tail record


def test_iter_json_array_truncated_nested_does_not_resync_into_inner_objects():
    convs = [_conv("a", ("human", "hi"), ("gpt", "hello")), _conv("b", ("human", "q"), ("gpt", "a"), ("human", "q2"))]
    full = _pretty(convs)
    cut = full[: full.index('"q2"')]  # inner turn objects of "b" are complete before the cut
    recs = list(iter_json_array(cut, "s.json", allow_truncated_tail=True))
    assert len(recs) == 2
    assert recs[0].value == convs[0]
    assert recs[1].error == "truncated tail"


def test_iter_json_array_invalid_element_resyncs():
    text = (
        "[\n"
        '  {"a": 1},\n'
        '  {"a": 2, oops},\n'
        '  {"a": 3}\n'
        "]\n"
    )
    recs = list(iter_json_array(text, "r.json"))
    assert [r.line for r in recs] == [2, 3, 4]
    assert recs[1].value is None and recs[1].error
    assert recs[1].raw == '{"a": 2, oops}'
    assert [r.value for r in (recs[0], recs[2])] == [{"a": 1}, {"a": 3}]


def test_iter_json_array_invalid_last_element():
    text = '[\n  {"a": 1},\n  {"a": \n]\n'
    recs = list(iter_json_array(text, "r.json"))
    assert len(recs) == 2 and recs[1].error and recs[1].line == 3
    assert recs[1].raw == '{"a":'


def test_iter_json_lines():
    text = '{"a": 1}\n\n  \n{bad\r\n[1, 2]'
    recs = list(iter_json_lines(text, "l.jsonl"))
    assert [(r.line, r.raw) for r in recs] == [(1, '{"a": 1}'), (4, "{bad"), (5, "[1, 2]")]
    assert recs[0].value == {"a": 1} and recs[1].error and recs[1].value is None and recs[2].value == [1, 2]


def test_raw_record_frozen_and_error_pickle():
    import pickle

    r = RawRecord(raw="1", line=1, value=1, error=None)
    with pytest.raises(Exception):
        r.line = 2  # type: ignore[misc]
    e = pickle.loads(pickle.dumps(BadRecordError("f", 3, "why")))
    assert (e.filename, e.line, e.reason, str(e)) == ("f", 3, "why", "f:3: why")


def test_content_id_stable_and_sensitive():
    m = [{"role": "user", "content": "hé"}, {"role": "assistant", "content": "x"}]
    payload = json.dumps({"source": "s", "messages": m}, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    import hashlib

    assert content_id("s", m) == hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]
    assert len(content_id("s", m)) == 16
    assert content_id("t", m) != content_id("s", m)
    assert content_id("s", list(reversed(m))) != content_id("s", m)


# ----------------------------------------------------------------------------------------------------------
# ShareGPT
# ----------------------------------------------------------------------------------------------------------


def _sharegpt_text():
    convs = [
        _conv("c0", ("human", "Hello?"), ("gpt", "Hi!"), ("human", "more"), ("gpt", "ok")),
        _conv("c1", ("gpt", "I start"), ("human", "hm")),
        _conv("c2", ("user", "Q2"), ("chatgpt", "A2")),
        _conv("c3", ("human", "only one")),
        _conv("c4", ("system", "be nice"), ("human", "x"), ("gpt", "y")),
        _conv("c5", ("human", "Hello?"), ("gpt", "Hi!")),  # duplicate first pair of c0
        {"id": "c6", "conversations": []},
        _conv("c7", ("human", "Q7"), ("bard", "A7"), ("bing", "z")),
    ]
    return convs, _pretty(convs)


def test_sharegpt_normalise_first_pair_filtered_and_duplicates():
    convs, text = _sharegpt_text()
    before = copy.deepcopy(text)
    records, report = normalise_sharegpt(text, "sg.json")
    assert text == before
    assert [r["messages"] for r in records] == [
        [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hi!"}],
        [{"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}],
        [{"role": "user", "content": "Q7"}, {"role": "assistant", "content": "A7"}],
    ]
    for r, src_idx in zip(records, (0, 2, 7)):
        assert r["source"] == "sharegpt" and r["subtask"] is None
        assert r["id"] == content_id("sharegpt", r["messages"])
        assert r["raw"] in text and json.loads(r["raw"]) == convs[src_idx]
        assert r["origin"] == f"sg.json:{_id_line(text, convs[src_idx]['id'])}"
        json.dumps(r)  # serialisable
    actions = Counter(row["action"] for row in report)
    assert actions == {"filtered": 4, "duplicate": 1}
    by_origin = {row["origin"]: row for row in report}
    gpt_first = by_origin[f"sg.json:{_id_line(text, 'c1')}"]
    assert gpt_first["action"] == "filtered" and gpt_first["source"] == "sharegpt" and "gpt" in gpt_first["reason"]
    dup = by_origin[f"sg.json:{_id_line(text, 'c5')}"]
    assert dup["action"] == "duplicate" and records[0]["origin"] in dup["reason"]
    assert set(report[0]) == {"source", "origin", "reason", "action"}


def test_sharegpt_unknown_role_error_and_skip():
    convs = [_conv("a", ("human", "q"), ("gpt", "a")), _conv("b", ("human", "q"), ("robot", "beep"))]
    text = _pretty(convs)
    line_b = _line_of(text, '"b"') - 1
    with pytest.raises(BadRecordError) as ei:
        normalise_sharegpt(text, "sharegpt.json")
    assert str(ei.value) == f"sharegpt.json:{line_b}: unknown role 'robot'"
    assert (ei.value.filename, ei.value.line) == ("sharegpt.json", line_b)
    records, report = normalise_sharegpt(text, "sharegpt.json", on_bad_record="skip")
    assert len(records) == 1
    assert report == [
        {"source": "sharegpt", "origin": f"sharegpt.json:{line_b}", "reason": "unknown role 'robot'", "action": "skipped"}
    ]


def test_sharegpt_invalid_json_and_empty_value_are_malformed():
    text = '[\n  {"id": "a", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},\n' \
        '  {"id": "b", "conversations": [ nope ]},\n' \
        '  {"id": "c", "conversations": [{"from": "human", "value": "  "}, {"from": "gpt", "value": "a"}]},\n' \
        '  "not an object"\n]'
    with pytest.raises(BadRecordError) as ei:
        normalise_sharegpt(text, "s.json")
    assert ei.value.line == 3
    records, report = normalise_sharegpt(text, "s.json", on_bad_record="skip")
    assert len(records) == 1
    assert [(r["origin"], r["action"]) for r in report] == [("s.json:3", "skipped"), ("s.json:4", "skipped"), ("s.json:5", "skipped")]
    assert "empty" in report[1]["reason"] and "object" in report[2]["reason"]


def test_sharegpt_truncated_tail():
    convs = [_conv("a", ("human", "q"), ("gpt", "a")), _conv("b", ("human", "q2"), ("gpt", "a2"))]
    full = _pretty(convs)
    cut = full[: full.index('"a2"') + 2]
    records, report = normalise_sharegpt(cut, "s.json")
    assert len(records) == 1
    assert report == [
        {"source": "sharegpt", "origin": f"s.json:{_id_line(cut, 'b')}", "reason": "truncated tail", "action": "filtered"}
    ]
    with pytest.raises(BadRecordError):
        normalise_sharegpt(cut, "s.json", allow_truncated_tail=False)


def test_on_bad_record_must_be_known():
    with pytest.raises(ValueError, match="on_bad_record"):
        normalise_sharegpt("[]", "s.json", on_bad_record="ignore")
    with pytest.raises(ValueError, match="on_bad_record"):
        normalise_alpaca("[]", "a.json", on_bad_record="warn")
    with pytest.raises(ValueError, match="on_bad_record"):
        load_mmlu("", "m.jsonl", on_bad_record="")


# ----------------------------------------------------------------------------------------------------------
# Alpaca
# ----------------------------------------------------------------------------------------------------------


def test_alpaca_with_and_without_input():
    items = [
        {"instruction": "Add.", "input": "2 + 2", "output": "4"},
        {"instruction": "Say hi.", "input": "", "output": "hi"},
        {"instruction": "No input key.", "output": "fine"},
        {"instruction": "Add.", "input": "2 + 2", "output": "4"},
    ]
    text = _pretty(items)
    records, report = normalise_alpaca(text, "al.json")
    assert [r["messages"][0]["content"] for r in records] == ["Add.\n\n2 + 2", "Say hi.", "No input key."]
    assert [r["messages"][1] for r in records] == [
        {"role": "assistant", "content": "4"},
        {"role": "assistant", "content": "hi"},
        {"role": "assistant", "content": "fine"},
    ]
    assert {r["source"] for r in records} == {"alpaca_gpt4_demo"}
    assert [r["origin"] for r in records] == ["al.json:2", "al.json:7", "al.json:12"]
    assert [json.loads(r["raw"]) for r in records] == items[:3]
    assert report == [
        {"source": "alpaca_gpt4_demo", "origin": "al.json:16", "reason": report[0]["reason"], "action": "duplicate"}
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"instruction": "", "input": "", "output": "x"},
        {"input": "", "output": "x"},
        {"instruction": "i", "input": "", "output": 3},
        {"instruction": "i", "input": 5, "output": "x"},
        {"instruction": "i", "input": "", "output": ""},
    ],
)
def test_alpaca_malformed(bad):
    text = _pretty([{"instruction": "ok", "output": "ok"}, bad])
    with pytest.raises(BadRecordError) as ei:
        normalise_alpaca(text, "a.json")
    assert ei.value.line == 6  # "[", "{", 2 fields, "},", then the bad "{"
    records, report = normalise_alpaca(text, "a.json", on_bad_record="skip")
    assert len(records) == 1 and report[0]["action"] == "skipped" and report[0]["origin"] == "a.json:6"


# ----------------------------------------------------------------------------------------------------------
# Natural Instructions
# ----------------------------------------------------------------------------------------------------------


def _ni_task(description, examples, **extra):
    return json.dumps(
        {"name": "t", "description": description, "keywords": ["examples"], **extra, "examples": examples, "after": 1},
        indent=4,
    )


def test_natural_instructions_raw_exact_and_origin_line():
    ex_a = [{"input": "in 1", "target": "out 1"}, {"input": "in 2", "target": ["out 2", "alt"]}]
    ex_b = [{"input": "x", "target": "y"}]
    tasks = {
        "subtask002_b": _ni_task("Definition: B. ", ex_b),
        # an "examples" key inside a string must not confuse the locator
        "subtask001_a": _ni_task('Definition: A "examples": [ {', ex_a),
    }
    before = copy.deepcopy(tasks)
    records, report = normalise_natural_instructions(tasks, "ni")
    assert tasks == before and report == []
    assert [r["subtask"] for r in records] == ["subtask001_a", "subtask001_a", "subtask002_b"]
    assert records[0]["messages"] == [
        {"role": "user", "content": 'Definition: A "examples": [ {\n\nin 1'},
        {"role": "assistant", "content": "out 1"},
    ]
    assert records[1]["messages"][1]["content"] == "out 2"
    assert records[2]["messages"][0]["content"] == "Definition: B.\n\nx"
    for r, ex in zip(records, ex_a + ex_b):
        text = tasks[r["subtask"]]
        assert r["raw"] in text and json.loads(r["raw"]) == ex
        start = text.index(r["raw"])
        assert r["origin"] == f"ni/{r['subtask']}/task.json:{text[:start].count(chr(10)) + 1}"
        assert r["source"] == "natural_instructions"
        assert r["id"] == content_id("natural_instructions", r["messages"])


def test_natural_instructions_bad_examples():
    text = _ni_task("Definition: D", [{"input": "a", "target": "b"}, {"input": "c", "target": []}, {"input": "e", "target": ""}])
    with pytest.raises(BadRecordError) as ei:
        normalise_natural_instructions({"s": text}, "ni")
    assert ei.value.filename == "ni/s/task.json"
    assert ei.value.line == _line_of(text, '"c"') - 1
    records, report = normalise_natural_instructions({"s": text}, "ni", on_bad_record="skip")
    assert len(records) == 1 and [r["action"] for r in report] == ["skipped", "skipped"]
    # a task file that is not JSON at all
    with pytest.raises(BadRecordError) as ei:
        normalise_natural_instructions({"s": '{\n "description": "D",\n "examples": [,\n'}, "ni")
    assert ei.value.filename == "ni/s/task.json"


# ----------------------------------------------------------------------------------------------------------
# Targets
# ----------------------------------------------------------------------------------------------------------


def _mmlu_line(q, ans, topic="astronomy", choices=("w", "x", "y", "z")):
    a, b, c, d = choices
    return json.dumps(
        {"question": q, "answer_a": a, "answer_b": b, "answer_c": c, "answer_d": d, "correct_answer": ans, "topic": topic}
    )


def test_mmlu_header_filtered_and_answer_mapping():
    lines = [
        _mmlu_line("q1", "A"),
        _mmlu_line("question", "answer", choices=("answer_a", "answer_b", "answer_c", "answer_d")),
        _mmlu_line("q2", "D", topic="law"),
        "",
        _mmlu_line("q3", "C"),
        _mmlu_line("q1", "A"),
    ]
    text = "\n".join(lines) + "\n"
    rows, report = load_mmlu(text, "mmlu.jsonl")
    assert [(r["question"], r["answer"], r["subtask"], r["origin"]) for r in rows] == [
        ("q1", 0, "astronomy", "mmlu.jsonl:1"),
        ("q2", 3, "law", "mmlu.jsonl:3"),
        ("q3", 2, "astronomy", "mmlu.jsonl:5"),
    ]
    assert rows[0]["choices"] == ["w", "x", "y", "z"] and rows[0]["task"] == "mmlu"
    assert rows[1]["raw"] == lines[2]
    assert len({r["id"] for r in rows}) == 3
    assert [(r["origin"], r["action"]) for r in report] == [("mmlu.jsonl:2", "filtered"), ("mmlu.jsonl:6", "duplicate")]


def test_mmlu_malformed():
    text = _mmlu_line("q1", "A") + "\n" + _mmlu_line("q2", "E") + "\n{oops\n"
    with pytest.raises(BadRecordError, match=r"^m\.jsonl:2: "):
        load_mmlu(text, "m.jsonl")
    rows, report = load_mmlu(text, "m.jsonl", on_bad_record="skip")
    assert len(rows) == 1 and [r["origin"] for r in report] == ["m.jsonl:2", "m.jsonl:3"]


def _bb_task(examples, **extra):
    return json.dumps({"name": "x", "description": "d", **extra, "examples": examples}, indent=2)


def test_bigbench_answer_argmax_prefix_and_order():
    ex = [
        {"input": "Q1?", "target_scores": {"zeta": 0, "alpha": 1, "mid": 0}},
        {"input": "Q2?", "target_scores": {"p": 0.2, "q": 0.1, "r": 0.9}},
    ]
    tasks = {"logic/three": _bb_task(ex, task_prefix="Solve: "), "dates": _bb_task(ex[:1])}
    before = copy.deepcopy(tasks)
    rows, report = load_bigbench_multiple_choice(tasks, "bb", shuffle_options=False)
    assert tasks == before and report == []
    assert [(r["subtask"], r["question"], r["choices"], r["answer"]) for r in rows] == [
        ("dates", "Q1?", ["zeta", "alpha", "mid"], 1),
        ("logic/three", "Solve: Q1?", ["zeta", "alpha", "mid"], 1),
        ("logic/three", "Solve: Q2?", ["p", "q", "r"], 2),
    ]
    t = tasks["logic/three"]
    for r in rows[1:]:
        assert r["raw"] in t and r["task"] == "bbh"
        assert r["origin"] == f"bb/logic/three/task.json:{t[: t.index(r['raw'])].count(chr(10)) + 1}"


def test_bigbench_two_maxima_malformed():
    text = _bb_task([{"input": "ok", "target_scores": {"a": 1, "b": 0}}, {"input": "tie", "target_scores": {"a": 1, "b": 1}}])
    with pytest.raises(BadRecordError) as ei:
        load_bigbench_multiple_choice({"t": text}, "bb")
    assert ei.value.filename == "bb/t/task.json" and ei.value.line == _line_of(text, '"tie"') - 1
    rows, report = load_bigbench_multiple_choice({"t": text}, "bb", on_bad_record="skip")
    assert len(rows) == 1 and report[0]["action"] == "skipped" and "max" in report[0]["reason"]


# ----------------------------------------------------------------------------------------------------------
# Split
# ----------------------------------------------------------------------------------------------------------


def _rows(counts):
    return [{"id": f"{s}-{i}", "subtask": s} for s, n in counts.items() for i in range(n)]


def test_split_disjoint_deterministic_and_ordered():
    rows = _rows({"b": 10, "a": 6, "c": 4})
    before = copy.deepcopy(rows)
    val, test = split_validation_test(rows, 2, 3, seed=0)
    assert rows == before
    assert [r["subtask"] for r in val] == ["a", "a", "b", "b", "c", "c"]
    assert [r["subtask"] for r in test] == ["a"] * 3 + ["b"] * 3 + ["c"] * 2  # c has only 2 left
    assert not {r["id"] for r in val} & {r["id"] for r in test}
    assert split_validation_test(rows, 2, 3, seed=0) == (val, test)
    val_all, test_all = split_validation_test(rows, 2, None, seed=0)
    assert val_all == val and len(test_all) == 20 - 6
    assert {r["id"] for r in val_all} | {r["id"] for r in test_all} == {r["id"] for r in rows}
    others = [split_validation_test(rows, 2, None, seed=s)[0] for s in range(1, 6)]
    assert any(o != val for o in others)
    # a subtask's split does not depend on which other subtasks exist
    val_b_only, _ = split_validation_test([r for r in rows if r["subtask"] == "b"], 2, None, seed=0)
    assert val_b_only == [r for r in val if r["subtask"] == "b"]


def test_split_errors():
    rows = _rows({"big": 5, "tiny": 2})
    with pytest.raises(ValueError, match="'tiny' has 2 examples, needs at least 3"):
        split_validation_test(rows, 2, None, seed=0)
    with pytest.raises(ValueError):
        split_validation_test(rows, 0, None, seed=0)
    split_validation_test(rows, 1, None, seed=0)  # 2 rows suffice for 1 validation + 1 test


# ----------------------------------------------------------------------------------------------------------
# Mixture
# ----------------------------------------------------------------------------------------------------------


def _pool(source, n, subtasks=None):
    out = []
    for i in range(n):
        st = None if subtasks is None else subtasks[i % len(subtasks)]
        out.append({"id": f"{source}{i}", "source": source, "subtask": st})
    return out


def test_mixture_largest_remainder_exact_counts():
    pools = {"a": _pool("a", 20), "b": _pool("b", 20), "c": _pool("c", 20)}
    out = sample_mixture(pools, 10, {"a": 0.5, "b": 0.3, "c": 0.2}, seed=1)
    assert Counter(r["source"] for r in out) == {"a": 5, "b": 3, "c": 2}
    # ties in the remainder go to the alphabetically first source
    out = sample_mixture(pools, 7, {"c": 1, "b": 1, "a": 1}, seed=1)
    assert Counter(r["source"] for r in out) == {"a": 3, "b": 2, "c": 2}
    # largest remainder wins over plain rounding: 11 * (.45, .45, .1) = 4.95/4.95/1.1 -> 5/5/1
    out = sample_mixture(pools, 11, {"a": 0.45, "b": 0.45, "c": 0.1}, seed=1)
    assert Counter(r["source"] for r in out) == {"a": 5, "b": 5, "c": 1}
    # ordered by source name, no repeats, weight 0 / unweighted sources excluded
    out = sample_mixture(pools, 8, {"b": 3, "a": 1, "c": 0}, seed=2)
    assert [r["source"] for r in out] == ["a"] * 2 + ["b"] * 6
    assert len({r["id"] for r in out}) == 8


def test_mixture_errors():
    pools = {"a": _pool("a", 3), "b": _pool("b", 10)}
    with pytest.raises(ValueError, match="'zzz'"):
        sample_mixture(pools, 4, {"a": 1, "zzz": 1}, seed=0)
    with pytest.raises(ValueError, match="source 'a' has 3 records, mixture needs 5"):
        sample_mixture(pools, 10, {"a": 1, "b": 1}, seed=0)
    with pytest.raises(ValueError):
        sample_mixture(pools, 0, {"a": 1}, seed=0)
    with pytest.raises(ValueError):
        sample_mixture(pools, 2, {"a": -1, "b": 2}, seed=0)
    with pytest.raises(ValueError):
        sample_mixture(pools, 2, {"a": 0, "b": 0}, seed=0)
    with pytest.raises(ValueError, match="'missing_but_zero'"):  # a typo fails even with weight 0
        sample_mixture(pools, 2, {"a": 1, "missing_but_zero": 0}, seed=0)


def test_mixture_round_robin_balances_subtasks():
    subtasks = ["s1", "s2", "s3", "s4"]
    # unbalanced pool: s1 has many more records than the others
    ni = _pool("natural_instructions", 40, subtasks=subtasks) + [
        {"id": f"extra{i}", "source": "natural_instructions", "subtask": "s1"} for i in range(200)
    ]
    pools = {"natural_instructions": ni, "sharegpt": _pool("sharegpt", 50)}
    before = copy.deepcopy(pools)
    out = sample_mixture(pools, 20, {"natural_instructions": 0.5, "sharegpt": 0.5}, seed=3)
    assert pools == before
    counts = Counter(r["subtask"] for r in out if r["source"] == "natural_instructions")
    assert counts == {"s1": 3, "s2": 3, "s3": 2, "s4": 2}  # 10 over 4 subtasks, first in sorted order get the extra
    assert len({r["id"] for r in out}) == 20
    # a subtask that runs out is skipped; the others keep filling
    small = {"natural_instructions": _pool("natural_instructions", 2, ["only"]) + _pool("x", 8, ["big"])}
    out = sample_mixture(small, 8, {"natural_instructions": 1}, seed=0)
    assert Counter(r["subtask"] for r in out) == {"only": 2, "big": 6}


def test_mixture_deterministic_by_seed():
    pools = {"a": _pool("a", 100), "b": _pool("b", 100, subtasks=["x", "y"])}
    mix = {"a": 0.6, "b": 0.4}
    first = sample_mixture(pools, 30, mix, seed=7)
    assert sample_mixture(pools, 30, mix, seed=7) == first
    assert [r["id"] for r in sample_mixture(pools, 30, mix, seed=8)] != [r["id"] for r in first]
