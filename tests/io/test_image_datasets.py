"""Image Kedro datasets: npz arrays round-trip atomically; sources by configuration; clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DatasetError

from data_selection.io.images import ImageArraysDataset, ImageSourceDataset


def test_image_arrays_round_trip_without_leftovers(tmp_path):
    data = {"images": np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3), "labels": np.array([1, 0]),
            "ids": np.array(["x/train/00000", "x/train/00001"]), "name": np.array("x")}
    dataset = ImageArraysDataset(str(tmp_path / "sub" / "pool.npz"))
    dataset.save(data)
    loaded = dataset.load()
    assert set(loaded) == set(data) and str(loaded["name"]) == "x"
    for key in data:
        np.testing.assert_array_equal(loaded[key], data[key])
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["pool.npz"]  # no temporary file left behind


def test_a_corrupt_npz_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="broken.npz"):
        ImageArraysDataset(str(tmp_path / "broken.npz")).load()


def test_image_source_by_configuration(tmp_path):
    with pytest.raises(DatasetError, match="unknown image format"):
        ImageSourceDataset(format="png_zip")
    with pytest.raises(DatasetError, match="needs `name` and `splits"):
        ImageSourceDataset(format="npz")
    np.savez(tmp_path / "a.npz", images=np.zeros((4, 3, 3), np.uint8), labels=np.array([0, 1, 0, 1]))
    source = ImageSourceDataset(format="npz", name="mine", splits={"train": str(tmp_path / "a.npz")}, classes=["no", "yes"]).load()
    assert list(source) == ["train"] and source["train"].classes == ("no", "yes") and source["train"].images.shape == (4, 3, 3, 1)
    with pytest.raises(DatasetError, match="read-only"):
        ImageSourceDataset(format="npz", name="mine", splits={"train": "x"}).save({})


def test_a_failed_image_arrays_save_keeps_the_previous_file(tmp_path, monkeypatch):
    import os

    path = tmp_path / "set.npz"
    dataset = ImageArraysDataset(str(path))
    dataset.save({"labels": np.array([1, 2, 3])})
    before = path.read_bytes()

    def failing_savez(handle, **arrays):
        handle.write(b"half an npz")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(Exception, match="simulated"):
        dataset.save({"labels": np.array([9])})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["set.npz"]  # no temporary file left
