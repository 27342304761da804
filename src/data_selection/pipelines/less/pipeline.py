"""``less``: warmup LoRA -> gradient datastore -> influence scores (then the shared select stage and text track)."""

from kedro.pipeline import Pipeline, node

from .nodes import pool_gradient_features, sample_warmup_set, score_influence, validation_gradient_features, warmup_lora


def create_pipeline(**kwargs) -> Pipeline:
    """LESS's own nodes, un-namespaced (the registry puts them under ``less``); ends in ``scores``."""
    return Pipeline(
        [
            node(sample_warmup_set, ["pool", "params:less"], "warmup_set", name="sample_warmup_set"),
            node(warmup_lora, ["base_model", "warmup_set", "params:less"], ["warmup_checkpoints", "warmup_summary"], name="warmup_lora"),
            node(
                pool_gradient_features,
                ["base_model", "warmup_checkpoints", "pool", "params:less"],
                ["pool_features", "gradient_timings"],
                name="pool_gradient_features",
            ),
            node(
                validation_gradient_features,
                ["base_model", "warmup_checkpoints", "target_validation", "params:less"],
                "validation_features",
                name="validation_gradient_features",
            ),
            node(
                score_influence,
                ["pool", "pool_features", "validation_features", "warmup_summary", "target_validation", "params:less"],
                "scores",
                name="score_influence",
            ),
        ]
    )
