"""``less``: warmup -> gradient datastore -> influence -> top-k, then the shared fine-tune and evaluate."""

from kedro.pipeline import Pipeline, node

from data_selection.pipelines.method import method_pipeline

from .nodes import (
    check_budget,
    pool_gradient_features,
    sample_warmup_set,
    score_influence,
    select_top,
    validation_gradient_features,
    warmup_lora,
)


def create_pipeline(**kwargs) -> Pipeline:
    selection = Pipeline(
        [
            node(check_budget, ["pool", "target_validation", "params:selection"], "budget_check", name="check_budget"),
            node(sample_warmup_set, ["pool", "budget_check", "params:less"], "warmup_set", name="sample_warmup_set"),
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
            node(
                select_top,
                ["pool", "scores", "params:selection"],
                ["selected_subset", "selected_original", "selection_summary", "selection_plot"],
                name="select_top",
            ),
        ]
    )
    return method_pipeline(selection, "less", inputs={"pool", "target_validation", "base_model"}, parameters={"params:less", "params:selection"})
