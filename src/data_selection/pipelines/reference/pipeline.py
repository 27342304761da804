"""``reference``: evaluate the base model (no fine-tuning) with the shared evaluate stage."""

from kedro.pipeline import Pipeline, node

from data_selection.pipelines import evaluate

from .nodes import no_adapter


def create_pipeline(**kwargs) -> Pipeline:
    base = Pipeline([node(no_adapter, None, "finetuned_adapter", name="no_adapter")])
    return Pipeline(base, namespace="reference", tags="reference") + evaluate.create_pipeline("reference")
