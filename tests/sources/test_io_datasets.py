"""Kedro datasets of data_selection.io.sources: named sources and the verbatim subset written back."""

from __future__ import annotations

import json

import pytest
from kedro.io import DatasetError

from data_selection.io.sources import InstructionSourcesDataset, VerbatimSubsetDataset
from data_selection.sources import normalise_alpaca, normalise_messages


def test_verbatim_subset_round_trip_is_byte_identical(tmp_path):
    items = [{"instruction": f"é {i}", "input": "", "output": f"o{i}"} for i in range(4)]
    array_text = "\ufeff" + json.dumps(items, indent=4, ensure_ascii=False).replace("\n", "\r\n")
    chats = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "ü"}]}, ensure_ascii=False) for i in range(3)]
    lines_text = "\r\n".join(chats) + "\r\n"
    arr, _ = normalise_alpaca(array_text, "a.json", source="arr")
    lines, _ = normalise_messages(lines_text, "c.jsonl", source="chats")
    chosen = [arr[2], lines[1], arr[0], lines[2]]

    ds = VerbatimSubsetDataset(path=str(tmp_path / "subset"))
    ds.save(chosen)
    files = sorted(p.name for p in (tmp_path / "subset").iterdir())
    assert files == ["arr.json", "chats.jsonl"]
    arr_bytes = (tmp_path / "subset" / "arr.json").read_bytes()
    raw2 = array_text[array_text.index('{\r\n        "instruction": "é 2"') :].split("}", 1)[0] + "}"
    raw0 = array_text[array_text.index('{\r\n        "instruction": "é 0"') :].split("}", 1)[0] + "}"
    assert arr_bytes == ("[\n" + raw2 + ",\n" + raw0 + "\n]\n").encode("utf-8")
    assert json.loads(arr_bytes) == [items[2], items[0]]
    assert (tmp_path / "subset" / "chats.jsonl").read_bytes() == (chats[1] + "\n" + chats[2] + "\n").encode("utf-8")
    assert ds.load() == {"arr.json": [raw2, raw0], "chats.jsonl": [chats[1], chats[2]]}

    ds.save([lines[0]])  # the folder is replaced as a whole
    assert ds.load() == {"chats.jsonl": [chats[0]]}


def test_verbatim_subset_rejects_records_it_cannot_write_back(tmp_path):
    ds = VerbatimSubsetDataset(path=str(tmp_path / "s"))
    with pytest.raises(DatasetError, match="lacks \\['raw_container'\\]"):
        ds.save([{"id": "x", "source": "a", "raw": "{}"}])
    with pytest.raises(DatasetError, match="mixes raw containers"):
        ds.save([{"source": "a", "raw": "{}", "raw_container": "json_array"}, {"source": "a", "raw": "{}", "raw_container": "json_lines"}])
    with pytest.raises(DatasetError, match="cannot be used as a file name"):
        ds.save([{"source": "../x", "raw": "{}", "raw_container": "json_lines"}])
    assert not (tmp_path / "s").exists()


def test_instruction_sources_dataset_checks_config_and_loads_specs(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"instruction": "i", "output": "o"}\n', encoding="utf-8")
    ds = InstructionSourcesDataset({"mine": {"format": "alpaca", "filepath": str(tmp_path / "a.jsonl")}})
    specs = ds.load()
    assert list(specs) == ["mine"] and specs["mine"].format == "alpaca" and specs["mine"].files() == {"": str(tmp_path / "a.jsonl")}
    assert ds.exists()
    with pytest.raises(DatasetError, match="at least one source"):
        InstructionSourcesDataset({})
    with pytest.raises(DatasetError, match="unknown format 'csv'"):
        InstructionSourcesDataset({"mine": {"format": "csv", "filepath": "x.csv"}})
