"""How every method pipeline is assembled: its own selection nodes under its namespace, then the shared
``finetune`` and ``evaluate`` stages under the same namespace (so every method is judged the same way)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from data_selection.pipelines import evaluate, finetune


def method_pipeline(selection: Pipeline, namespace: str, inputs: set[str], parameters: set[str]) -> Pipeline:
    """``selection`` namespaced as ``namespace`` (its ``selected_subset`` feeds the fine-tune), plus the shared
    stages. ``inputs`` and ``parameters`` are the global datasets/parameters the selection reads un-prefixed."""
    method = Pipeline(selection, namespace=namespace, inputs=inputs, parameters=parameters, tags=namespace)
    return method + finetune.create_pipeline(namespace) + evaluate.create_pipeline(namespace)
