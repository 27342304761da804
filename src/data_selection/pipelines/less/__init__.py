"""LESS (Xia et al., ICML 2024): LoRA warmup, Adam-preconditioned projected gradients, influence matching."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="less",
    track="text",
    create_selection=create_pipeline,
    output="scores",
    inputs=frozenset({"pool", "target_validation", "base_model"}),
    parameters=frozenset({"params:less"}),
    cost="gradient_counts",
    description="LESS: LoRA warmup, Adam-preconditioned projected LoRA gradients, influence matching",
)

__all__ = ["METHOD", "create_pipeline"]
