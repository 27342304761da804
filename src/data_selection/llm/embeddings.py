"""Sentence embeddings for clustering the pool (sentence-transformers; Small2Large clusters with all-MiniLM-L6-v2)."""

from __future__ import annotations

import numpy as np


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


def embed_texts(model, texts: list[str], batch_size: int = 32) -> np.ndarray:
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
