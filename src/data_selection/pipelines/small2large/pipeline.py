"""``small2large``: MiniLM + K-means -> selector (SmolLM2) perplexities P0..P3 -> LP(1) -> per-cluster chunk, then the
text track on the large target (Gemma-3-270M)."""

from kedro.pipeline import Pipeline, node

from .nodes import cluster_pool, select_by_learning_percentage, selector_perplexities


def create_pipeline(**kwargs) -> Pipeline:
    """Small2Large's own nodes, un-namespaced (the registry puts them under ``small2large``); ends in ``selection``."""
    return Pipeline(
        [
            node(cluster_pool, ["sentence_embedder", "pool", "params:small2large", "params:selection"], "clusters",
                 name="cluster_pool"),
            node(selector_perplexities, ["base_model", "pool", "clusters", "params:small2large"],
                 ["perplexities", "selector_summary"], name="selector_perplexities"),
            node(select_by_learning_percentage,
                 ["pool", "clusters", "perplexities", "params:small2large", "params:selection"],
                 ["selection", "lp_table", "lp_summary"], name="select_by_learning_percentage"),
        ]
    )
