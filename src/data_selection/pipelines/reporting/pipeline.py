"""``compare``: reads the metrics of every method that has been evaluated and tabulates them."""

from kedro.pipeline import Pipeline, node

from .nodes import compare_methods


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                compare_methods,
                ["all_evaluation_metrics", "all_selection_summaries"],
                ["method_comparison", "method_comparison_plot"],
                name="compare_methods",
            )
        ],
        tags="reporting",
    )
