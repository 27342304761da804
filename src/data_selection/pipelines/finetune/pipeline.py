"""Modular ``finetune`` stage; instantiate it under a method's namespace with :func:`create_pipeline`."""

from kedro.pipeline import Pipeline, node

from .nodes import finetune_lora


def create_pipeline(namespace: str | None = None, **kwargs) -> Pipeline:
    """``<ns>.selected_subset`` + ``base_model`` -> ``<ns>.finetuned_adapter`` (shared ``params:finetune``)."""
    template = Pipeline(
        [node(finetune_lora, ["base_model", "selected_subset", "params:finetune"], ["finetuned_adapter", "finetune_summary"], name="finetune_lora")]
    )
    if namespace is None:
        return template
    return Pipeline(template, namespace=namespace, inputs={"base_model"}, parameters={"params:finetune"}, tags="finetune")
