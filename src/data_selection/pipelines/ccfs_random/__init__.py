"""``ccfs_random``: CCFS's judging baseline "same distilled part + random real images at the same IPC" (issue 8 item 5).

Reads ``ccfs.synthetic_images`` (the kept distilled part of a ``ccfs`` run, persisted), so ``ccfs`` must have run
first (``compare_images`` runs both); isolates what CCFS's curriculum selection adds over random real images.
"""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="ccfs_random",
    track="image",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"image_pool", "ccfs.synthetic_images"}),
    parameters=frozenset({"params:image_selection", "params:judge"}),
    description="CCFS baseline: CCFS's distilled part + random real images to the same IPC (a new draw per judge seed)",
)

__all__ = ["METHOD", "create_pipeline"]
