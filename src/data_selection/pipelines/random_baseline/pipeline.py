"""``random``: a uniform subset at the same budget, through the same fine-tune and evaluate stages."""

from kedro.pipeline import Pipeline, node

from data_selection.pipelines.method import method_pipeline

from .nodes import select_random


def create_pipeline(**kwargs) -> Pipeline:
    selection = Pipeline(
        [node(select_random, ["pool", "params:selection"], ["selected_subset", "selected_original", "selection_summary"], name="select_random")]
    )
    return method_pipeline(selection, "random", inputs={"pool"}, parameters={"params:selection"})
