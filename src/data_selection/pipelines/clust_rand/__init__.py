"""Small2Large's ``clust_rand`` baseline (random per cluster, the LP selection's per-cluster counts)."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="clust_rand",
    track="text",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"pool", "small2large.clusters"}),
    parameters=frozenset({"params:small2large", "params:selection", "params:judge"}),
    description="clust_rand (Small2Large's baseline): random members of every MiniLM cluster, for Gemma-3-270M",
    target_model="large_target_model",
)

__all__ = ["METHOD", "create_pipeline"]
