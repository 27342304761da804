"""``dq_text``'s feature node: sentence embeddings of instruction + input + response (DQ's language version)."""

from __future__ import annotations

import numpy as np

from data_selection.llm.sentence_embeddings import embed_texts, record_text
from data_selection.pipelines.dq.nodes import check_bins_and_budget
from data_selection.pipelines.dq.parameters import DQTextParams
from data_selection.pipelines.parameters import SelectionParams


def embed_pool(pool: list[dict], params: DQTextParams, selection: SelectionParams) -> dict[str, np.ndarray]:
    """Embed every pool record (``features.model``, default the packaged all-MiniLM-L6-v2; DQ: ada-002).

    The bins and the budget are checked against the pool size first, so an impossible setting fails before the
    model is loaded.

    Returns:
        ``{"features": float32 (N, dim)}`` in pool order (unit rows when ``features.normalize``).

    Raises:
        ValueError: n_bins larger than the pool, a budget the bins cannot hold, a record without text.
        FileNotFoundError: the model folder does not exist (or is a hub id while offline).
    """
    check_bins_and_budget(len(pool), None, params["bins"], selection)
    if params["bins"]["per_class"]:
        raise ValueError("dq_text.bins.per_class: text pools have no classes; set it to false")
    texts = [record_text(r) for r in pool]
    feature = params["features"]
    matrix = embed_texts(texts, feature["model"], batch_size=feature["batch_size"], normalize=feature["normalize"],
                         device=feature["device"], max_seq_length=feature["max_seq_length"])
    return {"features": matrix}
