"""CCFS (Chen et al., CVPR 2025): curriculum coarse-to-fine selection of real images on top of a distilled set.

Judged by the image track (``pipelines/tracks/image.py``): its ``selection`` (real ids) and ``synthetic_images`` (the
kept distilled part) are materialised together at the track's ``image_selection.ipc``.
"""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="ccfs",
    track="image",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"image_pool"}),
    parameters=frozenset({"params:ccfs", "params:image_selection"}),
    description="CCFS: distilled set (DM) + real images picked per curriculum by a KD filter and forgetting scores",
)

__all__ = ["METHOD", "create_pipeline"]
