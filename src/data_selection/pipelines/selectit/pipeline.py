"""``selectit``: rating probabilities (two models) -> token/sentence/model levels -> scores (then the shared select
stage and text track)."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    level_comparison_plot,
    level_overlap,
    level_scores_to_scores,
    rating_probabilities,
    score_levels,
    truncation_summary,
)


def create_pipeline(**kwargs) -> Pipeline:
    """SelectIT's own nodes, un-namespaced (the registry puts them under ``selectit``); ends in ``scores``."""
    return Pipeline(
        [
            node(
                rating_probabilities,
                ["base_model", "pool", "rating_shards_base", "params:selectit"],
                "rating_probabilities_base",
                name="rate_with_base_model",
            ),
            node(
                rating_probabilities,
                ["second_rating_model", "pool", "rating_shards_second", "params:selectit"],
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
                truncation_summary,
                ["rating_probabilities_base", "rating_probabilities_second"],
                "truncation_summary",
                name="summarise_truncation",
            ),
            node(level_scores_to_scores, ["pool", "level_scores", "params:selectit"], "scores", name="scores_of_level"),
            node(level_overlap, ["level_scores", "params:selection"], "level_overlap", name="level_overlap"),
            node(level_comparison_plot, ["level_scores", "params:selection"], "level_comparison_plot", name="plot_levels"),
        ]
    )
