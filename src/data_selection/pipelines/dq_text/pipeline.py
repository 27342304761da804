"""``dq_text``: sentence embeddings -> GraphCut bins -> uniform bin sampling (then the shared text track)."""

from kedro.pipeline import Pipeline, node

from data_selection.pipelines.dq import create_dq_pipeline

from .nodes import embed_pool


def create_pipeline(**kwargs) -> Pipeline:
    return create_dq_pipeline(node(embed_pool, ["sentence_embedder", "pool", "params:dq_text", "params:selection"], "features", name="embed_pool"))
