"""Image loaders: stable ids, shapes, exact pixel values, seeded stratified splits, clear errors naming the file."""

from __future__ import annotations

import base64
import gzip
import io
import json

import numpy as np
import pytest

from data_selection.sources import images as I


def _write_idx(path, array: np.ndarray, kind: int = 0x08) -> None:
    header = bytes([0, 0, kind, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_idx_pair_round_trip_gives_ids_shapes_and_pixels(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    _write_idx(tmp_path / "img.gz", images)
    _write_idx(tmp_path / "lab", np.array([2, 0, 1], dtype=np.uint8))
    data = I.load_idx_pair(tmp_path / "img.gz", tmp_path / "lab", "toy", "train")
    assert data.images.shape == (3, 4, 5, 1) and data.images.dtype == np.uint8
    np.testing.assert_array_equal(data.images[..., 0], images)
    assert data.labels.tolist() == [2, 0, 1] and data.labels.dtype == np.int64
    assert data.ids.tolist() == ["toy/train/00000", "toy/train/00001", "toy/train/00002"]
    assert data.classes == ("0", "1", "2")


def test_truncated_idx_file_is_an_error_naming_the_file(tmp_path):
    bad = tmp_path / "broken-images.idx"
    _write_idx(bad, np.zeros((4, 2, 2), dtype=np.uint8))
    bad.write_bytes(bad.read_bytes()[:-3])
    with pytest.raises(I.ImageFormatError, match="broken-images.idx"):
        I.read_idx(bad)
    junk = tmp_path / "junk.gz"
    with gzip.open(junk, "wb") as handle:
        handle.write(b"\x12\x34\x08\x01")
    with pytest.raises(I.ImageFormatError, match="junk.gz.*magic"):
        I.read_idx(junk)


def test_label_count_mismatch_names_the_label_file(tmp_path):
    _write_idx(tmp_path / "img", np.zeros((3, 2, 2), dtype=np.uint8))
    _write_idx(tmp_path / "lab-short", np.zeros(2, dtype=np.uint8))
    with pytest.raises(I.ImageFormatError, match="lab-short"):
        I.load_idx_pair(tmp_path / "img", tmp_path / "lab-short", "toy", "train")


@pytest.mark.skipif(not (I.FASHION_MNIST_DIR / "t10k-labels-idx1-ubyte.gz").exists(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_from_the_debian_package():
    data = I.load_fashion_mnist()
    assert len(data["train"]) == 60000 and len(data["test"]) == 10000
    assert data["test"].images.shape[1:] == (28, 28, 1)
    assert data["train"].class_counts().tolist() == [6000] * 10
    assert data["train"].ids[42] == "fashion_mnist/train/00042"
    # first test label of Fashion-MNIST is 9 (ankle boot), in the published files
    assert data["test"].labels[0] == 9 and data["test"].classes[9] == "ankle boot"


def _png_b64(array: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_bigbench_cifar10_decodes_pngs_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    classes = ["cat", "truck", "airplane"]
    examples = [{"input": _png_b64(p), "target_scores": {c: int(c == name) for c in I.CIFAR10_CLASSES}} for p, name in zip(pictures, classes)]
    (tmp_path / "task.json").write_text(json.dumps({"examples": examples}))
    data = I.load_bigbench_cifar10(tmp_path / "task.json")["all"]
    np.testing.assert_array_equal(data.images, pictures)  # PNG is lossless
    assert data.labels.tolist() == [3, 9, 0]
    assert data.ids.tolist() == ["cifar10/all/00000", "cifar10/all/00001", "cifar10/all/00002"]
    examples[1]["input"] = "not base64!"
    (tmp_path / "bad.json").write_text(json.dumps({"examples": examples}))
    with pytest.raises(I.ImageFormatError, match="bad.json: example 1"):
        I.load_bigbench_cifar10(tmp_path / "bad.json")


def test_mnist_pickle_restores_uint8_exactly(tmp_path):
    import pickle

    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(5, 784)).astype(np.uint8)
    splits = tuple((pixels.astype(np.float32) / 256.0, np.arange(5) % 10) for _ in range(3))
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as handle:
        pickle.dump(splits, handle)
    data = I.load_mnist_pickle(tmp_path / "mnist.pkl.gz")
    np.testing.assert_array_equal(data["test"].images.reshape(5, 784), pixels)
    assert data["validation"].ids[4] == "mnist/validation/00004"


def test_npz_and_image_folder_for_a_users_own_data(tmp_path):
    from PIL import Image

    images = np.random.default_rng(2).integers(0, 256, size=(4, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "mine.npz", images=images, labels=np.array([1, 0, 1, 0]))
    data = I.load_npz(tmp_path / "mine.npz", "mine", "train")
    assert data.ids[3] == "mine/train/00003" and data.classes == ("0", "1")
    np.savez(tmp_path / "nolabels.npz", images=images)
    with pytest.raises(I.ImageFormatError, match="nolabels.npz"):
        I.load_npz(tmp_path / "nolabels.npz", "mine", "train")
    for cls, k in (("dog", 0), ("cat", 1), ("cat", 2)):
        (tmp_path / "folder" / cls).mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[k]).save(tmp_path / "folder" / cls / f"im{k}.png")
    folder = I.load_image_folder(tmp_path / "folder", "pets", "train")
    assert folder.classes == ("cat", "dog") and folder.labels.tolist() == [0, 0, 1]
    assert folder.ids.tolist() == ["pets/train/cat/im1", "pets/train/cat/im2", "pets/train/dog/im0"]
    np.testing.assert_array_equal(folder.images[2], images[0])


def test_stratified_split_is_disjoint_balanced_and_seeded():
    labels = np.repeat(np.arange(3), [10, 12, 8])
    pool, held = I.stratified_split(labels, 3, seed=5)
    assert np.intersect1d(pool, held).size == 0 and len(pool) + len(held) == len(labels)
    assert np.bincount(labels[held]).tolist() == [3, 3, 3]
    again_pool, again_held = I.stratified_split(labels, 3, seed=5)
    np.testing.assert_array_equal(held, again_held)
    assert not np.array_equal(held, I.stratified_split(labels, 3, seed=6)[1])
    with pytest.raises(ValueError, match="class 2 has 8 images"):
        I.stratified_split(labels, 8, seed=0)
