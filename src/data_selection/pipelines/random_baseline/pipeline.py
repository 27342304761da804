"""``random``: a uniform subset at the same budget (one per judge seed), judged by the text track."""

from kedro.pipeline import Pipeline, node

from .nodes import select_random


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([node(select_random, ["pool", "params:selection", "params:judge"], "selection", name="select_random")])
