"""Small2Large (Mekala et al., Findings of ACL 2024): a small model's learning percentage selects for a larger one."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="small2large",
    track="text",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"pool", "base_model", "sentence_embedder"}),
    parameters=frozenset({"params:small2large", "params:selection"}),
    description="Small2Large: SmolLM2-135M's learning percentage LP(1), hardest chunk per MiniLM cluster, for Gemma-3-270M",
    target_model="large_target_model",
)

__all__ = ["METHOD", "create_pipeline"]
