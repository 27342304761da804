"""``full_images``: the whole image pool (the ceiling every image method is read against)."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="full_images",
    track="image",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"image_pool"}),
    description="the whole image pool (full-data ceiling; not at the IPC budget)",
    baseline=True,
)

__all__ = ["METHOD", "create_pipeline"]
