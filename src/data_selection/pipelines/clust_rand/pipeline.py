"""``clust_rand``: random members per Small2Large cluster (reads ``small2large.clusters``), judged on the large target."""

import warnings

from kedro.pipeline import Pipeline, node

from .nodes import select_cluster_random


def create_pipeline(**kwargs) -> Pipeline:
    with warnings.catch_warnings():
        # reads Small2Large's clusters by their full, dotted name (another method's namespace)
        warnings.filterwarnings("ignore", message="One or more dataset names contain")
        draw = node(
            select_cluster_random,
            ["pool", "small2large.clusters", "params:small2large", "params:selection", "params:judge"],
            "selection",
            name="select_cluster_random",
        )
    return Pipeline([draw])
