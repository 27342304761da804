"""``compare`` report: reads every registered method's evaluation (and random's and the base model's)."""

import warnings

from kedro.pipeline import Pipeline, node

from .nodes import compare_image_methods, compare_methods, evaluation_inputs


def create_pipeline(method_names, **kwargs) -> Pipeline:
    """The report node over ``method_names`` (which must include ``random``; ``reference`` is optional)."""
    inputs = {"judge": "params:judge", **evaluation_inputs(method_names)}
    with warnings.catch_warnings():
        # the report reads other namespaces' outputs (``less.test_predictions``) by their full, dotted names
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        report = node(compare_methods, inputs, ["method_comparison", "method_comparison_plot"], name="compare_methods")
    return Pipeline([report], tags="reporting")


def create_image_pipeline(method_names, **kwargs) -> Pipeline:
    """The image report node over ``method_names`` (must include ``random_images``; ``full_images`` is the ceiling)."""
    inputs = {"judge": "params:judge", **evaluation_inputs(method_names)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        report = node(compare_image_methods, inputs, ["image_method_comparison", "image_method_comparison_plot"],
                      name="compare_image_methods")
    return Pipeline([report], tags="reporting")
