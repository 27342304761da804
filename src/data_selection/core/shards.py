"""Shards of a per-example pass: fixed-size index ranges, each stored as one file keyed by its examples' ids, so a
killed pass resumes at the first missing shard and a corrupt file is recomputed, never reused.

Framework-free (NumPy and the standard library). The store is a folder of ``<start>-<stop>.npz`` files, one per
shard (the layout of a partitioned dataset: one partition per file, the partition id is the index range); every
file holds the pass's arrays for examples ``start .. stop-1`` plus ``ids``, the examples' ids, which are checked on
read. Files are written atomically (a temporary sibling, then ``os.replace``), so a file either is complete or does
not exist; a file that still fails to read (a disk error, a manual edit) is reported, deleted and recomputed.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from data_selection.atomic import atomic_write_text

logger = logging.getLogger(__name__)

#: the array name that holds each shard's example ids
IDS = "ids"


def shard_ranges(n_examples: int, shard_size: int) -> list[tuple[int, int]]:
    """``[(0, s), (s, 2s), ..., (k s, n)]``: consecutive half-open index ranges of at most ``shard_size``.

    Raises:
        ValueError: ``n_examples`` < 0 or ``shard_size`` < 1.
    """
    if n_examples < 0 or shard_size < 1:
        raise ValueError(f"need n_examples >= 0 and shard_size >= 1, got {n_examples} and {shard_size}")
    return [(start, min(start + shard_size, n_examples)) for start in range(0, n_examples, shard_size)]


def shard_key(start: int, stop: int) -> str:
    """The partition id of the range ``start .. stop-1``: ``"00000000-00000256"`` (sorts in pool order)."""
    return f"{start:08d}-{stop:08d}"


class ShardCorrupt(ValueError):
    """A shard file exists but cannot be used (unreadable, wrong ids, wrong row counts)."""


@dataclass
class ShardReport:
    """What a pass did with its shards: ``total``, ``computed`` (this run), ``reused`` (valid files from an earlier
    run) and ``corrupt`` (files found unusable, deleted and recomputed, by key)."""

    total: int = 0
    computed: int = 0
    reused: int = 0
    corrupt: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"shards": self.total, "computed": self.computed, "reused": self.reused, "corrupt": list(self.corrupt)}


class ShardStore:
    """A folder of shard files (see the module docstring). Nothing is read until asked.

    Args:
        folder: where the ``<key>.npz`` files live (created on the first write).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npz"

    def bind(self, fingerprint: str) -> bool:
        """Tie the stored shards to what produced them (a hash of the model, checkpoints and parameters): when the
        folder's ``fingerprint.txt`` differs, every shard is deleted (they belong to another computation) and the
        new fingerprint written. Returns True when earlier shards were kept."""
        marker = self.folder / "fingerprint.txt"
        if marker.exists() and marker.read_text(encoding="utf-8").strip() == fingerprint:
            return True
        stale = self.keys()
        if stale:
            logger.warning("%s: %d shards were computed with other inputs; deleting them", self.folder, len(stale))
            for key in stale:
                self.path(key).unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(marker, fingerprint + "\n")
        return False

    def keys(self) -> list[str]:
        """Keys of the shard files present (valid or not), sorted."""
        if not self.folder.exists():
            return []
        return sorted(p.stem for p in self.folder.glob("*.npz") if not p.name.startswith("."))

    def write(self, key: str, arrays: dict[str, np.ndarray], ids: Sequence[str]) -> None:
        """Store one shard atomically: ``arrays`` (each with ``len(ids)`` rows) and the ``ids``.

        Raises:
            ValueError: an array whose row count differs from ``len(ids)``, or an array named ``ids``.
        """
        if IDS in arrays:
            raise ValueError(f"'{IDS}' is reserved for the shard's example ids")
        for name, value in arrays.items():
            if np.asarray(value).shape[:1] != (len(ids),):
                raise ValueError(f"shard {key}: array {name!r} has {np.asarray(value).shape[:1]} rows for {len(ids)} ids")
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.path(key)
        tmp = final.with_name(f".{final.stem}.{os.getpid()}.tmp.npz")
        try:
            with open(tmp, "wb") as handle:
                np.savez(handle, **{IDS: np.asarray(list(ids), dtype=str)}, **{k: np.asarray(v) for k, v in arrays.items()})
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()

    def read(self, key: str, ids: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """The arrays of one shard (without ``ids``), checked against the expected ``ids`` when given.

        Raises:
            FileNotFoundError: no such shard.
            ShardCorrupt: the file cannot be read, or holds other ids or row counts than expected.
        """
        path = self.path(key)
        if not path.exists():
            raise FileNotFoundError(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}  # reading every member checks its CRC-32
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise ShardCorrupt(f"shard {path} is unreadable: {error}") from error
        stored = arrays.pop(IDS, None)
        if stored is None:
            raise ShardCorrupt(f"shard {path} has no '{IDS}' array")
        if ids is not None and stored.astype(str).tolist() != [str(i) for i in ids]:
            raise ShardCorrupt(f"shard {path} holds other example ids than the pool's rows {key}")
        for name, value in arrays.items():
            if value.shape[:1] != stored.shape:
                raise ShardCorrupt(f"shard {path}: array {name!r} has {value.shape[:1]} rows for {len(stored)} ids")
        return arrays

    def valid(self, key: str, ids: Sequence[str]) -> bool:
        """True when the shard exists and reads back with these ids; a corrupt shard is logged, deleted and False."""
        if not self.path(key).exists():
            return False
        try:
            self.read(key, ids)
            return True
        except ShardCorrupt as error:
            logger.warning("%s: deleting it and recomputing the shard", error)
            self.path(key).unlink(missing_ok=True)
            return False

    def assemble(self, ids: Sequence[str], shard_size: int) -> dict[str, np.ndarray]:
        """Every shard's arrays concatenated in pool order (row i = ``ids[i]``), ids checked shard by shard.

        Raises:
            FileNotFoundError: a shard is missing (the pass has not finished).
            ShardCorrupt: a shard holds other ids, or shards disagree on their arrays.
        """
        parts: list[dict[str, np.ndarray]] = []
        for start, stop in shard_ranges(len(ids), shard_size):
            parts.append(self.read(shard_key(start, stop), ids[start:stop]))
        if not parts:
            return {}
        names = set(parts[0])
        if any(set(p) != names for p in parts):
            raise ShardCorrupt(f"shards in {self.folder} hold different arrays: rerun the pass")
        return {name: np.concatenate([p[name] for p in parts]) for name in sorted(names)}


def missing_shards(store: ShardStore, ids: Sequence[str], shard_size: int, report: ShardReport) -> list[tuple[int, int]]:
    """The ranges whose shard is absent or corrupt (corrupt ones deleted and recorded in ``report``)."""
    ranges = shard_ranges(len(ids), shard_size)
    report.total = len(ranges)
    missing = []
    for start, stop in ranges:
        key = shard_key(start, stop)
        existed = store.path(key).exists()
        if store.valid(key, ids[start:stop]):
            report.reused += 1
        else:
            if existed:
                report.corrupt.append(key)
            missing.append((start, stop))
    return missing


def run_local(
    store: ShardStore, ids: Sequence[str], shard_size: int, compute: Callable[[int, int], dict[str, np.ndarray]],
    progress: bool = True, description: str = "shards",
) -> ShardReport:
    """Compute and store every missing shard in this process, one after the other, in pool order.

    Args:
        compute: ``compute(start, stop)`` -> arrays with ``stop - start`` rows for examples ``start .. stop-1``.

    Returns:
        the :class:`ShardReport`. A crash leaves every finished shard on disk; the next call reuses them.
    """
    from tqdm.auto import tqdm

    report = ShardReport()
    todo = missing_shards(store, ids, shard_size, report)
    if report.reused:
        logger.info("%s: %d of %d shards already stored, computing %d", description, report.reused, report.total, len(todo))
    for start, stop in tqdm(todo, desc=description, unit="shard", disable=not progress or not todo):
        store.write(shard_key(start, stop), compute(start, stop), ids[start:stop])
        report.computed += 1
    return report
