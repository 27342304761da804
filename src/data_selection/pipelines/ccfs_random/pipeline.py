"""``ccfs_random``: ``image_pool`` + ``ccfs.synthetic_images`` -> ``selection`` (one random draw per judge seed) and
``synthetic_images`` (the same distilled part), judged by the image track."""

from kedro.pipeline import Pipeline, node

from .nodes import random_beside_distilled


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([node(random_beside_distilled,
                          ["image_pool", "ccfs.synthetic_images", "params:image_selection", "params:judge"],
                          ["selection", "synthetic_images"], name="random_beside_distilled")])
