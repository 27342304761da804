"""``random_images``: ``image_pool`` -> ``selection`` (one draw per judge seed), judged by the image track."""

from kedro.pipeline import Pipeline, node

from .nodes import select_random_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([node(select_random_images, ["image_pool", "params:image_selection", "params:judge"], "selection",
                          name="select_random_images")])
