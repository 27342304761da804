"""``compare``: reads the metrics every method wrote and tabulates them."""

from kedro.pipeline import Pipeline, node

from .nodes import compare_methods


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                compare_methods,
                ["less.evaluation_metrics", "random.evaluation_metrics", "reference.evaluation_metrics"],
                ["method_comparison", "method_comparison_plot"],
                name="compare_methods",
            )
        ],
        tags="reporting",
    )
