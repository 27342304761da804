"""``ccfs_distilled``: ``image_pool`` -> ``synthetic_images`` (DM at IPC) + an empty ``selection``, judged by the
image track."""

from kedro.pipeline import Pipeline, node

from .nodes import distilled_only


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([node(distilled_only, ["image_pool", "params:ccfs", "params:image_selection"],
                          ["selection", "synthetic_images"], name="distilled_only")])
