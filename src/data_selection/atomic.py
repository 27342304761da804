"""Atomic writes: a crash or an error mid-write never leaves a half-written file or folder.

Every writer goes to a temporary sibling and renames it into place with ``os.replace`` (atomic on POSIX within
one file system). No Kedro import: both the Kedro datasets (``io``) and the model cache (``llm``) use it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary sibling path of ``path`` to write to; on success it replaces ``path`` (``os.replace``), on
    error (or if the writer left it) it is deleted. ``suffix`` replaces the temporary name's last suffix, for writers
    that look at it (``.npz``). The parent folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    if suffix:
        tmp = tmp.with_suffix(suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", suffix: str = "", **open_kwargs):
    """Yield an open file handle (``open(tmp, mode, **open_kwargs)``) that becomes ``path`` atomically once the block
    ends without error: flushed, ``fsync``-ed, then renamed into place (:func:`atomic_path`)."""
    with atomic_path(path, suffix) as tmp:
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text to ``path`` atomically (temp file in the same folder, then ``os.replace``)."""
    with atomic_file(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


@contextmanager
def atomic_directory(path: str | os.PathLike):
    """Yield a temporary folder; on success it replaces ``path`` as a whole, on error it is deleted."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(path)
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if path.exists():
            old = _tmp_sibling(path)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
