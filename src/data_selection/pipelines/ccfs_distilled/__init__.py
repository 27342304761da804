"""``ccfs_distilled``: CCFS's judging baseline "distilled only" (issue 8 item 5): a DM distilled set with IPC images
per class and no real image, made with ``params:ccfs``'s network, DM schedule and seed (or the user's npz)."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="ccfs_distilled",
    track="image",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"image_pool"}),
    parameters=frozenset({"params:ccfs", "params:image_selection"}),
    description="CCFS baseline: distilled only (DM, IPC synthetic images per class, no real image)",
)

__all__ = ["METHOD", "create_pipeline"]
