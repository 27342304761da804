"""``selectit``: rating probabilities (two models) -> token/sentence/model levels -> top-k, then fine-tune
and evaluate with the shared stages."""

from kedro.pipeline import Pipeline, node

from data_selection.pipelines.method import method_pipeline

from .nodes import check_prompts, rating_probabilities, score_levels, select_top


def create_pipeline(**kwargs) -> Pipeline:
    selection = Pipeline(
        [
            node(check_prompts, ["pool", "params:selection", "params:selectit"], "budget_check", name="check_prompts"),
            node(
                rating_probabilities,
                ["base_model", "pool", "budget_check", "params:selectit"],
                "rating_probabilities_base",
                name="rate_with_base_model",
            ),
            node(
                rating_probabilities,
                ["second_rating_model", "pool", "budget_check", "params:selectit"],
                "rating_probabilities_second",
                name="rate_with_second_model",
            ),
            node(
                score_levels,
                ["pool", "rating_probabilities_base", "rating_probabilities_second", "params:selectit"],
                ["level_scores", "scoring_failures"],
                name="score_levels",
            ),
            node(
                select_top,
                ["pool", "level_scores", "params:selection", "params:selectit"],
                ["selected_subset", "selected_original", "selection_summary", "scores", "selection_plot", "level_comparison_plot"],
                name="select_top",
            ),
        ]
    )
    return method_pipeline(selection, "selectit", inputs={"pool", "base_model", "second_rating_model"}, parameters={"params:selectit", "params:selection"})
