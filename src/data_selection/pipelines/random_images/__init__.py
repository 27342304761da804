"""``random_images``: random real images at the same IPC, a fresh draw per judge seed (the image baseline)."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="random_images",
    track="image",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"image_pool"}),
    parameters=frozenset({"params:image_selection", "params:judge"}),
    description="random real images, IPC per class (a new draw for every judge seed)",
    baseline=True,
)

__all__ = ["METHOD", "create_pipeline"]
