"""Tests for the project's Kedro datasets and atomic-write helpers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from data_selection.io import datasets as ds
from data_selection.io.datasets import (
    JSONDataset,
    JSONLinesDataset,
    NpyDirectoryDataset,
    RawJSONArrayDataset,
    TensorBundleDataset,
    atomic_directory,
    atomic_write_text,
)


def _leftovers(folder, keep):
    """Names in ``folder`` other than ``keep`` (temp siblings start with a dot)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# --------------------------------------------------------------------------- JSON Lines


def test_jsonlines_round_trip_non_ascii(tmp_path):
    path = tmp_path / "sub" / "records.jsonl"
    records = [
        {"id": 1, "text": "héllo wörld — ünïcödé", "tags": ["日本語", "Ελληνικά"]},
        {"id": 2, "text": "emoji 🤖 and \"quotes\" and \\ backslash", "nested": {"x": [1.5, None, True]}},
        {"id": 3, "text": "line\nbreak\ttab"},
    ]
    dataset = JSONLinesDataset(str(path))
    assert not dataset.exists()
    dataset.save(records)
    assert dataset.exists()
    assert dataset.load() == records
    raw = path.read_text(encoding="utf-8")
    # one record per line, UTF-8 without ASCII escaping
    assert raw.count("\n") == len(records)
    assert "héllo wörld" in raw and "日本語" in raw and "🤖" in raw
    assert "\\u00e9" not in raw


def test_jsonlines_skips_blank_lines(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": 2}\n', encoding="utf-8")
    assert JSONLinesDataset(str(path)).load() == [{"a": 1}, {"a": 2}]


def test_jsonlines_empty_list(tmp_path):
    path = tmp_path / "empty.jsonl"
    dataset = JSONLinesDataset(str(path))
    dataset.save([])
    assert path.read_text(encoding="utf-8") == ""
    assert dataset.load() == []


def test_jsonlines_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"ok": 1}\n{"broken": \n{"ok": 3}\n', encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        JSONLinesDataset(str(path)).load()
    message = str(info.value)
    assert str(path) in message
    assert f"{path}:2:" in message


def test_missing_file_raises_dataset_error(tmp_path):
    dataset = JSONLinesDataset(str(tmp_path / "nope.jsonl"))
    assert not dataset.exists()
    with pytest.raises(DatasetError, match="does not exist"):
        dataset.load()


def test_jsonlines_failed_serialisation_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "records.jsonl"
    dataset = JSONLinesDataset(str(path))
    dataset.save([{"v": "old-1"}, {"v": "old-2"}])
    before = path.read_bytes()

    real_dumps = json.dumps
    calls = {"n": 0}

    def flaky_dumps(obj, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom on second record")
        return real_dumps(obj, *args, **kwargs)

    monkeypatch.setattr(ds.json, "dumps", flaky_dumps)
    with pytest.raises(DatasetError, match="boom on second record"):
        dataset.save([{"v": "new-1"}, {"v": "new-2"}, {"v": "new-3"}])
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert _leftovers(tmp_path, {"records.jsonl"}) == []
    assert dataset.load() == [{"v": "old-1"}, {"v": "old-2"}]


def test_atomic_write_text_failed_replace_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "out.txt"
    atomic_write_text(path, "previous content\n")

    def failing_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_text(path, "new content that must not appear\n")
    monkeypatch.undo()

    assert path.read_text(encoding="utf-8") == "previous content\n"
    assert _leftovers(tmp_path, {"out.txt"}) == []


def test_atomic_write_text_creates_parents_and_overwrites(tmp_path):
    path = tmp_path / "a" / "b" / "c.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "twö\r\n")
    # newline="" means no newline translation
    assert path.read_bytes() == "twö\r\n".encode("utf-8")
    assert _leftovers(path.parent, {"c.txt"}) == []


# --------------------------------------------------------------------------- JSON


def test_json_dataset_round_trip(tmp_path):
    path = tmp_path / "metrics.json"
    data = {"b": 2.5, "a": {"nested": [1, 2, 3]}, "name": "μ-test"}
    dataset = JSONDataset(str(path))
    dataset.save(data)
    assert dataset.load() == data
    text = path.read_text(encoding="utf-8")
    assert "μ-test" in text
    assert text.index('"a"') < text.index('"b"')  # sort_keys
    assert text.endswith("\n")


# --------------------------------------------------------------------------- raw JSON array


RAW_RECORDS = [
    '{\n    "a": "\\u00e9",  "b": [1,2]\n  }',
    '{"conversations":[{"from":"human","value":"caf\\u00e9 \\"quoted\\" ]}, not the end"}]}',
    '  {"x" : 1.50e+2 , "y":null}',
    '{\t"tab":\t"ünïcödé literal",\n\n"emoji": "\\ud83e\\udd16"}',
    '[1, 2,   3]',
    '"just a string, with ] and , inside"',
]


def test_raw_json_array_round_trip_is_verbatim(tmp_path):
    path = tmp_path / "raw.json"
    dataset = RawJSONArrayDataset(str(path))
    dataset.save(RAW_RECORDS)

    file_bytes = path.read_bytes()
    parsed = json.loads(file_bytes.decode("utf-8"))
    assert isinstance(parsed, list)
    assert parsed == [json.loads(r) for r in RAW_RECORDS]
    for raw in RAW_RECORDS:
        assert raw.encode("utf-8") in file_bytes
    # escapes stay escapes: no re-serialisation happened
    assert b"\\u00e9" in file_bytes

    loaded = dataset.load()
    # leading whitespace of an element is separator whitespace; the JSON value itself is verbatim
    assert loaded == [r.strip() for r in RAW_RECORDS]
    assert loaded[0] == RAW_RECORDS[0]
    assert loaded[1] == RAW_RECORDS[1]


def test_raw_json_array_exact_list_when_no_outer_whitespace(tmp_path):
    records = [r.strip() for r in RAW_RECORDS]
    dataset = RawJSONArrayDataset(str(tmp_path / "raw.json"))
    dataset.save(records)
    assert dataset.load() == records
    # saving what was loaded reproduces the file byte for byte
    first = (tmp_path / "raw.json").read_bytes()
    dataset.save(dataset.load())
    assert (tmp_path / "raw.json").read_bytes() == first


def test_raw_json_array_empty(tmp_path):
    path = tmp_path / "empty.json"
    dataset = RawJSONArrayDataset(str(path))
    dataset.save([])
    assert json.loads(path.read_text(encoding="utf-8")) == []
    assert dataset.load() == []


def test_raw_json_array_loads_third_party_file(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text('[{"instruction": "a"},{"instruction":"b"} , {"instruction": "c"}]', encoding="utf-8")
    assert RawJSONArrayDataset(str(path)).load() == [
        '{"instruction": "a"}',
        '{"instruction":"b"}',
        '{"instruction": "c"}',
    ]


# --------------------------------------------------------------------------- atomic_directory


def test_atomic_directory_replaces_existing_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("stale")
    with atomic_directory(target) as tmp:
        assert tmp != target and tmp.parent == target.parent
        (tmp / "fresh.txt").write_text("fresh")
        # nothing visible at the target yet
        assert (target / "stale.txt").exists()
    assert sorted(p.name for p in target.iterdir()) == ["fresh.txt"]
    assert _leftovers(tmp_path, {"out"}) == []


def test_atomic_directory_exception_keeps_old_folder(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="midway"):
        with atomic_directory(target) as tmp:
            (tmp / "partial.txt").write_text("partial")
            raise RuntimeError("failed midway")
    assert sorted(p.name for p in target.iterdir()) == ["old.txt"]
    assert (target / "old.txt").read_text() == "old"
    assert _leftovers(tmp_path, {"out"}) == []


def test_atomic_directory_exception_without_previous_folder(tmp_path):
    target = tmp_path / "new"
    with pytest.raises(ValueError):
        with atomic_directory(target) as tmp:
            (tmp / "x").write_text("x")
            raise ValueError
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- NumPy folder


def test_npy_directory_round_trip_mmap(tmp_path):
    path = tmp_path / "features"
    rng = np.random.default_rng(0)
    data = {
        "grads": rng.standard_normal((5, 7)).astype(np.float32),
        "ids": np.arange(5, dtype=np.int64),
        "norms": rng.random(5),
    }
    dataset = NpyDirectoryDataset(str(path))
    dataset.save(data)
    assert sorted(p.name for p in path.iterdir()) == ["grads.npy", "ids.npy", "norms.npy"]
    loaded = dataset.load()
    assert sorted(loaded) == sorted(data)
    for name, array in data.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(np.asarray(loaded[name]), array)
        assert isinstance(loaded[name], np.memmap)
        assert not loaded[name].flags.writeable
        with pytest.raises(ValueError):
            loaded[name][0] = 0


def test_npy_directory_no_mmap_and_replacement(tmp_path):
    path = tmp_path / "features"
    NpyDirectoryDataset(str(path)).save({"old": np.zeros(3), "keep": np.ones(2)})
    dataset = NpyDirectoryDataset(str(path), mmap=False)
    dataset.save({"keep": np.full(4, 7.0)})
    loaded = dataset.load()
    # the whole folder is replaced: "old" is gone
    assert list(loaded) == ["keep"]
    assert not isinstance(loaded["keep"], np.memmap)
    np.testing.assert_array_equal(loaded["keep"], np.full(4, 7.0))
    assert _leftovers(tmp_path, {"features"}) == []


def test_npy_directory_failed_save_keeps_previous(tmp_path):
    path = tmp_path / "features"
    dataset = NpyDirectoryDataset(str(path), mmap=False)
    dataset.save({"a": np.arange(3)})
    with pytest.raises(DatasetError):
        # object arrays cannot be saved without pickle
        dataset.save({"b": np.arange(2), "c": np.array([{"x": 1}], dtype=object)})
    loaded = dataset.load()
    assert list(loaded) == ["a"]
    np.testing.assert_array_equal(loaded["a"], np.arange(3))
    assert _leftovers(tmp_path, {"features"}) == []


# --------------------------------------------------------------------------- tensor bundles


def test_tensor_bundle_round_trip(tmp_path):
    path = tmp_path / "adapters"
    torch.manual_seed(0)
    data = {
        "warmup_1": {
            "tensors": {
                "lora_A": torch.randn(2, 8),
                "lora_B": torch.randn(8, 2).t(),  # non-contiguous view
                "step": torch.tensor([3], dtype=torch.int64),
            },
            "meta": {"epoch": 1, "lr": 2e-5, "name": "ünï"},
        },
        "warmup_2": {
            "tensors": {"exp_avg": torch.randn(4, 4, dtype=torch.float64)},
            "meta": {"epoch": 2, "modules": ["q_proj", "v_proj"]},
        },
        "meta_only": {"meta": {"note": "no tensors"}},
    }
    dataset = TensorBundleDataset(str(path))
    dataset.save(data)
    assert dataset.exists()
    loaded = dataset.load()
    assert sorted(loaded) == sorted(data)
    for name, bundle in data.items():
        assert loaded[name]["meta"] == bundle["meta"]
        expected = bundle.get("tensors", {})
        assert sorted(loaded[name]["tensors"]) == sorted(expected)
        for key, tensor in expected.items():
            got = loaded[name]["tensors"][key]
            assert got.dtype == tensor.dtype
            torch.testing.assert_close(got, tensor, rtol=0, atol=0)
    assert not (path / "meta_only" / "tensors.safetensors").exists()


def test_tensor_bundle_save_replaces_folder(tmp_path):
    path = tmp_path / "adapters"
    dataset = TensorBundleDataset(str(path))
    dataset.save({"a": {"tensors": {"w": torch.ones(2)}, "meta": {}}})
    dataset.save({"b": {"tensors": {"w": torch.zeros(3)}, "meta": {"k": 1}}})
    loaded = dataset.load()
    assert list(loaded) == ["b"]
    torch.testing.assert_close(loaded["b"]["tensors"]["w"], torch.zeros(3))
    assert loaded["b"]["meta"] == {"k": 1}
    assert _leftovers(tmp_path, {"adapters"}) == []
