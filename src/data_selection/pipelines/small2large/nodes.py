"""Small2Large nodes: MiniLM + K-means clusters -> selector perplexities P0..PE -> learning percentage -> per-cluster
chunk (the selection). The math is in :mod:`data_selection.core.small2large`, the model code in
:mod:`data_selection.llm.perplexity` and :mod:`data_selection.llm.embeddings`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from data_selection.core import small2large as s2l
from data_selection.llm.sentence_embeddings import clustering_text, encode_texts
from data_selection.llm.models import CausalLM
from data_selection.llm.perplexity import train_recording_perplexities
from data_selection.llm.training import encode_records
from data_selection.pipelines.parameters import SelectionParams
from data_selection.pipelines.select.nodes import selection_count
from data_selection.pipelines.small2large.parameters import Small2LargeParams

logger = logging.getLogger(__name__)


def budget_fraction(pool_size: int, selection: dict[str, Any]) -> float:
    """The budget as a share of the pool (``budget_fraction``, or ``max_samples / pool_size``)."""
    if selection.get("budget_fraction") is not None:
        return float(selection["budget_fraction"])
    return selection_count(pool_size, selection) / pool_size


def cluster_quotas(clusters: np.ndarray, pool_size: int, params: dict, selection: dict) -> dict[int, tuple[int, int]]:
    """Per-cluster (start, count) of the configured chunk and rounding at the shared budget.

    Raises:
        ValueError: ``rounding: official`` selects another number of examples than the budget (the text track judges
            every method at one budget): the message gives the ``selection.max_samples`` that makes them agree.
    """
    k = s2l.chunk_count(budget_fraction(pool_size, selection))
    budget = selection_count(pool_size, selection)
    quotas = s2l.cluster_quotas(clusters, k, params["chunk"], params["rounding"], budget)
    total = sum(count for _, count in quotas.values())
    if total != budget:
        raise ValueError(
            f"rounding: official keeps {total} examples (np.array_split into k={k} chunks per cluster) but the budget "
            f"is {budget}: to judge the official subset, run with --params selection.max_samples={total} (random then "
            f"draws {total} too), or use rounding: exact"
        )
    return quotas


def cluster_pool(embedder, pool: list[dict], params: Small2LargeParams, selection: SelectionParams) -> pd.DataFrame:
    """Embed every pool example (official clustering text, all-MiniLM-L6-v2) and K-means it.

    ``num_clusters`` null scales the paper's 1,000 clusters for 52,002 Alpaca examples to the pool
    (``examples_per_cluster`` = 52 per cluster). The budget is checked here, before the selector is trained.

    Returns:
        ``id, cluster`` (int64), one row per pool example in pool order.
    """
    texts = [clustering_text(r["messages"]) for r in pool]
    embeddings = encode_texts(embedder, texts, int(params["embedding_batch_size"]))
    k = s2l.num_clusters_for(len(pool), params["num_clusters"], float(params["examples_per_cluster"]))
    labels = s2l.kmeans_clusters(embeddings, k, int(params["kmeans_seed"]))
    cluster_quotas(labels, len(pool), params, selection)  # a budget the rounding cannot meet fails now
    sizes = np.bincount(labels, minlength=k)
    logger.info("%d clusters of %d..%d examples", k, sizes.min(), sizes.max())
    return pd.DataFrame({"id": [r["id"] for r in pool], "cluster": labels})


def selector_perplexities(
    selector: CausalLM, pool: list[dict], clusters: pd.DataFrame, params: dict
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fine-tune the selector on the whole pool for ``epochs`` and record every example's response perplexity.

    Runs after :func:`cluster_pool` (it reads ``clusters`` only to check that both cover the same examples), so a
    budget problem is reported before this, the expensive step.

    Returns:
        (the perplexity table ``id, p0, p1, ..., pE`` keyed by example id, in pool order; the training summary).

    Raises:
        ValueError: ``clusters`` does not list the pool's examples in order.
    """
    if clusters["id"].astype(str).tolist() != [r["id"] for r in pool]:
        raise ValueError("clusters and pool list different examples: re-run the small2large pipeline from the start")
    train = params["selector_training"]
    encoded, truncated = encode_records(selector.tokenizer, pool, int(train["max_length"]))
    ppl, summary = train_recording_perplexities(
        selector,
        encoded,
        train,
        finetune=params["selector_finetune"],
        lora_params=params.get("selector_lora"),
        eval_batch_size=int(params["perplexity_batch_size"]),
        max_padding_fraction=float(params.get("perplexity_max_padding_fraction", 1.0)),
    )
    table = pd.DataFrame({"id": [r["id"] for r in pool]})
    for e in range(ppl.shape[1]):
        table[f"p{e}"] = ppl[:, e]
    summary = {**summary, "selector": selector.name, "truncated_examples": int(truncated)}
    return table, summary


def _perplexity_matrix(perplexities: pd.DataFrame) -> np.ndarray:
    columns = sorted((c for c in perplexities.columns if c[:1] == "p" and c[1:].isdigit()), key=lambda c: int(c[1:]))
    return perplexities[columns].to_numpy(dtype=np.float64)


def select_by_learning_percentage(
    pool: list[dict], clusters: pd.DataFrame, perplexities: pd.DataFrame, params: dict, selection: dict
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """LP(1) and LP(1)-approx of every example, then the configured chunk of every cluster.

    Returns:
        (selection ``id, rank, score, cluster, status`` (score = the LP variant; rank = official order: cluster by
        cluster, ascending LP inside); the LP table ``id, cluster, p0..pE, lp1, lp1_status, lp1_approx,
        lp1_approx_status, selected`` for every pool example; a summary: statuses counted, clusters, the official
        rounding's subset size next to the budget).

    Raises:
        ValueError: the tables do not list the pool's examples in order.
    """
    ids = [r["id"] for r in pool]
    if clusters["id"].astype(str).tolist() != ids or perplexities["id"].astype(str).tolist() != ids:
        raise ValueError("clusters, perplexities and pool list different examples: re-run the small2large pipeline")
    ppl = _perplexity_matrix(perplexities)
    labels = clusters["cluster"].to_numpy(dtype=np.int64)
    table = pd.DataFrame({"id": ids, "cluster": labels})
    for e in range(ppl.shape[1]):
        table[f"p{e}"] = ppl[:, e]
    values = {}
    for variant in ("lp1", "lp1_approx"):
        lp, status = s2l.learning_percentage(ppl, variant)
        table[variant], table[f"{variant}_status"] = lp, status
        values[variant] = (lp, status)
    lp, status = values[params["variant"]]
    keys = s2l.ranking_keys(lp, status, params["unlearned"])
    quotas = cluster_quotas(labels, len(pool), params, selection)
    k = s2l.chunk_count(budget_fraction(len(pool), selection))
    chosen = s2l.select_per_cluster(keys, labels, k, params["chunk"], params["rounding"], selection_count(len(pool), selection))
    table["selected"] = False
    table.loc[chosen, "selected"] = True
    result = pd.DataFrame(
        {
            "id": [ids[i] for i in chosen],
            "rank": np.arange(1, len(chosen) + 1, dtype=np.int64),
            "score": lp[chosen],
            "cluster": labels[chosen],
            "status": status[chosen],
        }
    )
    official = s2l.cluster_quotas(labels, k, params["chunk"], "official")
    summary = {
        "variant": params["variant"],
        "chunk": params["chunk"],
        "rounding": params["rounding"],
        "unlearned": params["unlearned"],
        "k_chunks": k,
        "clusters": int(len(np.unique(labels))),
        "selected": int(len(chosen)),
        "official_rounding_size": int(sum(c for _, c in official.values())),
        "per_cluster": {str(c): int(q) for c, (_, q) in quotas.items()},
        "status_counts": {v: {s: int((values[v][1] == s).sum()) for s in (s2l.LEARNED, s2l.NO_DROP, s2l.ROSE)} for v in values},
        "selected_status_counts": {s: int((status[chosen] == s).sum()) for s in (s2l.LEARNED, s2l.NO_DROP, s2l.ROSE)},
        "lp_median": float(np.median(lp)),
        "lp_min": float(lp.min()),
        "lp_max": float(lp.max()),
    }
    return result, table, summary
