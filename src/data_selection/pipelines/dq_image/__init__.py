"""Dataset Quantization on images (Zhou et al., ICCV 2023): GraphCut bins per class of last-layer gradient embeddings
of a trained network, the same share of IPC sampled from every bin (then the shared image track)."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="dq_image",
    track="image",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"image_pool"}),
    parameters=frozenset({"params:dq_image", "params:image_selection", "params:image_train", "params:judge"}),
    description="Dataset Quantization: GraphCut bins per class of a trained ConvNet's last-layer gradients, IPC from every bin",
)

__all__ = ["METHOD", "create_pipeline"]
