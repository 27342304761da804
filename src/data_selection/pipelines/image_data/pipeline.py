"""``image_data``: ``image_source`` (raw) -> ``image_pool`` + ``image_test`` (primary)."""

from kedro.pipeline import Pipeline, node

from .nodes import prepare_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [node(prepare_images, ["image_source", "params:image_data"], ["image_pool", "image_test", "image_data_report"], name="prepare_images")],
        tags="image_data",
    )
