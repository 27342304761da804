"""``compare`` report: reads every registered method's evaluation (and random's and the base model's)."""

from kedro.pipeline import Pipeline, node

from .nodes import compare_methods, evaluation_inputs


def create_pipeline(method_names, **kwargs) -> Pipeline:
    """The report node over ``method_names`` (which must include ``random``; ``reference`` is optional)."""
    inputs = {"judge": "params:judge", **evaluation_inputs(method_names)}
    return Pipeline(
        [node(compare_methods, inputs, ["method_comparison", "method_comparison_plot"], name="compare_methods")],
        tags="reporting",
    )
