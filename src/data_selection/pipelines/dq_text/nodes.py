"""``dq_text``'s feature node: sentence embeddings of instruction + input + response (DQ's language version)."""

from __future__ import annotations

import numpy as np

from data_selection.llm.sentence_embeddings import encode_texts, record_text
from data_selection.pipelines.dq.nodes import check_bins_and_budget
from data_selection.pipelines.dq.parameters import DQTextParams
from data_selection.pipelines.parameters import SelectionParams


def embed_pool(
    sentence_embedder, pool: list[dict], params: DQTextParams, selection: SelectionParams
) -> dict[str, np.ndarray]:
    """Embed every pool record with the shared ``sentence_embedder`` (default the packaged all-MiniLM-L6-v2; DQ:
    ada-002).

    The bins and the budget are checked against the pool size first, so an impossible setting fails before any
    text is embedded.

    Returns:
        ``{"features": float32 (N, dim)}`` in pool order (unit rows when ``features.normalize``).

    Raises:
        ValueError: n_bins larger than the pool, a budget the bins cannot hold, a record without text.
    """
    check_bins_and_budget(len(pool), None, params["bins"], selection)
    if params["bins"]["per_class"]:
        raise ValueError("dq_text.bins.per_class: text pools have no classes; set it to false")
    texts = [record_text(r) for r in pool]
    feature = params["features"]
    matrix = encode_texts(sentence_embedder, texts, batch_size=feature["batch_size"], normalize=feature["normalize"],
                          max_seq_length=feature["max_seq_length"], progress=True)
    return {"features": matrix}
