"""SelectIT (Liu et al., NeurIPS 2024): LLM self-reflection ratings at token, sentence and model level."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="selectit",
    track="text",
    create_selection=create_pipeline,
    output="scores",
    inputs=frozenset({"pool", "base_model", "second_rating_model"}),
    parameters=frozenset({"params:selectit", "params:selection"}),
    description="SelectIT: self-reflection ratings by two LLMs at token, sentence and model level",
)

__all__ = ["METHOD", "create_pipeline"]
