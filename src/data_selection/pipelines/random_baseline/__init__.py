"""The random baseline: a uniform subset at the same budget, a fresh draw per judge seed."""

from data_selection.pipelines.registry import Method

from .pipeline import create_pipeline

METHOD = Method(
    name="random",
    track="text",
    create_selection=create_pipeline,
    output="selection",
    inputs=frozenset({"pool"}),
    parameters=frozenset({"params:selection", "params:judge"}),
    description="random subset at the same budget (a new draw for every judge seed)",
    baseline=True,
)

__all__ = ["METHOD", "create_pipeline"]
