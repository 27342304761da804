"""CCFS (Chen et al., CVPR 2025): curriculum coarse-to-fine selection of real images on top of a distilled set.

Not in ``REGISTERED`` yet: it is judged by the image track, which is merged separately (issue 8).
"""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="ccfs",
    track="image",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"image_pool"}),
    parameters=frozenset({"params:ccfs"}),
    description="CCFS: distilled set (DM) + real images picked per curriculum by a KD filter and forgetting scores",
)

__all__ = ["METHOD", "create_pipeline"]
