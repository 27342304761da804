"""DiverseEvol (Wu et al. 2023): the model picks its own next data, round by round, in its own embedding space."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="diverseevol",
    track="text",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"pool", "base_model", "target_test", "sentence_embedder"}),
    parameters=frozenset({"params:diverseevol", "params:selection", "params:evaluate"}),
    description="DiverseEvol: round 0 random, then k-center rounds in the previous round's embedding space",
)

__all__ = ["METHOD", "create_pipeline"]
