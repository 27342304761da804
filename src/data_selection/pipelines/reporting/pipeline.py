"""``compare`` report: reads every registered method's evaluation (and random's and the base model's)."""

import warnings

from kedro.pipeline import Pipeline, node

from .nodes import compare_image_methods, evaluation_inputs, for_baselines


def create_pipeline(
    method_names, baseline_of: dict[str, str] | None = None, costs: dict[str, str] | None = None, **kwargs
) -> Pipeline:
    """The report node over ``method_names`` (which must include each method's baseline; ``reference`` is optional).

    ``baseline_of`` maps a method to the random baseline on its target model (default: ``random`` for all);
    ``costs`` maps a method to its cost dataset (``Method.cost``), shown as the report's gradient columns.
    """
    inputs = {"judge": "params:judge", **evaluation_inputs(method_names, costs)}
    with warnings.catch_warnings():
        # the report reads other namespaces' outputs (``less.test_predictions``) by their full, dotted names
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        report = node(for_baselines(baseline_of or {}), inputs, ["method_comparison", "method_comparison_plot"], name="compare_methods")
    return Pipeline([report], tags="reporting")


def create_image_pipeline(method_names, **kwargs) -> Pipeline:
    """The image report node over ``method_names`` (must include ``random_images``; ``full_images`` is the ceiling)."""
    inputs = {"judge": "params:judge", **evaluation_inputs(method_names)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        report = node(compare_image_methods, inputs, ["image_method_comparison", "image_method_comparison_plot"],
                      name="compare_image_methods")
    return Pipeline([report], tags="reporting")
