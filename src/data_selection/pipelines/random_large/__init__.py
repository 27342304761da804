"""The random baseline on the large target model (``large_target_model``: Gemma-3-270M by default).

The same draws as ``random`` (same ``selection.seed`` and judge seeds), fine-tuned and evaluated on the larger
target, so that a method judged on that target (Small2Large) is compared with random on the same model.
"""

from data_selection.pipelines.random_baseline.pipeline import create_pipeline
from data_selection.pipelines.registry import Method

METHOD = Method(
    name="random_large",
    track="text",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"pool"}),
    parameters=frozenset({"params:selection", "params:judge"}),
    description="random subset at the same budget, fine-tuned and evaluated on the large target (Gemma-3-270M)",
    baseline=True,
    target_model="large_target_model",
)

__all__ = ["METHOD", "create_pipeline"]
