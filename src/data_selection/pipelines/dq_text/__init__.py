"""Dataset Quantization on text (Zhou et al., ICCV 2023): GraphCut bins of sentence embeddings, uniform bin sampling."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="dq_text",
    track="text",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"pool", "sentence_embedder"}),
    parameters=frozenset({"params:dq_text", "params:selection", "params:judge"}),
    description="Dataset Quantization: GraphCut bins of MiniLM embeddings, the same share sampled from every bin",
)

__all__ = ["METHOD", "create_pipeline"]
