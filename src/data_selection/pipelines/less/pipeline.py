"""``less``: warmup LoRA -> gradient datastore -> influence scores (then the shared select stage and text track)."""

from kedro.pipeline import Pipeline, node
from kedro.pipeline.node import Node

from .nodes import (
    count_gradients,
    pool_gradient_features,
    sample_warmup_set,
    score_influence,
    validation_gradient_features,
    warmup_lora,
)


def gradient_stage(examples: str, features: str, timings: str, name: str, shards: str = "pool_gradient_shards") -> list[Node]:
    """LESS's gradient stage as nodes, un-namespaced: warmup set from ``pool`` -> warmup LoRA -> Adam gradient features
    of ``examples`` and SGD gradient features of ``target_validation`` at every warmup checkpoint (``params:less``).

    ``less`` runs it on the whole pool; ``less_predictor`` on its training points, under its own namespace (so it runs
    alone, and with the same pool and ``params:less`` trains the same seeded warmup checkpoints).

    Args:
        examples: the dataset whose records get gradient features (``pool`` or ``training_points``).
        features: output name of their features (checkpoint -> (N, d)).
        timings: output name of the gradient timings.
        name: the name of their gradient node.
        shards: the shard store (catalog entry) their gradients are computed into, resumable.

    Returns:
        nodes ``sample_warmup_set``, ``warmup_lora``, ``<name>``, ``validation_gradient_features``, with the outputs
        ``warmup_set``, ``warmup_checkpoints``, ``warmup_summary``, ``<features>``, ``<timings>``,
        ``validation_features``.
    """
    return [
        node(sample_warmup_set, ["pool", "params:less"], "warmup_set", name="sample_warmup_set"),
        node(warmup_lora, ["base_model", "warmup_set", "params:less"], ["warmup_checkpoints", "warmup_summary"], name="warmup_lora"),
        node(pool_gradient_features, ["base_model", "warmup_checkpoints", examples, shards, "params:less"], [features, timings],
             name=name),
        node(
            validation_gradient_features,
            ["base_model", "warmup_checkpoints", "target_validation", "params:less"],
            "validation_features",
            name="validation_gradient_features",
        ),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    """LESS's own nodes, un-namespaced (the registry puts them under ``less``); ends in ``scores``."""
    return Pipeline(
        [
            *gradient_stage("pool", "pool_features", "gradient_timings", "pool_gradient_features"),
            node(
                score_influence,
                ["pool", "pool_features", "validation_features", "warmup_summary", "target_validation", "params:less"],
                "scores",
                name="score_influence",
            ),
            node(count_gradients, ["pool", "validation_features", "warmup_summary"], "gradient_counts",
                 name="count_gradients"),
        ]
    )
