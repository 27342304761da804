"""Modular ``evaluate`` stage; instantiate it under a method's namespace."""

from kedro.pipeline import Pipeline, node

from .nodes import evaluate_model


def create_pipeline(namespace: str | None = None, **kwargs) -> Pipeline:
    """``<ns>.finetuned_adapter`` + ``base_model`` + ``target_test`` -> ``<ns>.evaluation_metrics``."""
    template = Pipeline(
        [
            node(
                evaluate_model,
                ["base_model", "finetuned_adapter", "target_test", "params:finetune", "params:evaluate"],
                ["evaluation_metrics", "mlflow_metrics", "test_predictions"],
                name="evaluate_model",
            )
        ]
    )
    if namespace is None:
        return template
    return Pipeline(
        template,
        namespace=namespace,
        inputs={"base_model", "target_test"},
        parameters={"params:finetune", "params:evaluate"},
        tags="evaluate",
    )
