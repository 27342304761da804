"""LESS with an influence predictor (issue 12): real LESS influence for a seeded share of the pool, predicted for
the rest from MiniLM embeddings; optionally the extended LESS step 6 (real gradients for the predicted top level)."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="less_predictor",
    track="text",
    create_selection=create_pipeline,
    output="scores",
    inputs=frozenset({"pool", "target_validation", "base_model", "sentence_embedder"}),
    parameters=frozenset({"params:less", "params:less_predictor"}),
    cost="gradient_counts",
    description="LESS influence for a share of the pool, predicted for the rest from MiniLM embeddings (NN-CIFT style)",
)

__all__ = ["METHOD", "create_pipeline"]
