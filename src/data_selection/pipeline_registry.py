"""Project pipelines: one per method, each runnable alone (``kedro run --pipeline=less``)."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from data_selection.pipelines import data_prep, less, random_baseline, reference, reporting, selectit


def register_pipelines() -> dict[str, Pipeline]:
    """Each method pipeline includes data prep, its selection, the shared fine-tune and evaluation.

    ``less``       data prep + LESS selection + fine-tune + evaluate (namespace ``less``)
    ``selectit``   data prep + SelectIT self-reflection selection + fine-tune + evaluate (``selectit``)
    ``random``     data prep + random subset at the same budget + fine-tune + evaluate (``random``)
    ``reference``  data prep + evaluation of the base model without fine-tuning (``reference``)
    ``compare``    the table and plot comparing every evaluated method (reads their metrics)
    ``__default__`` all of the above
    """
    prep = data_prep.create_pipeline()
    pipelines = {
        "data_prep": prep,
        "less": prep + less.create_pipeline(),
        "selectit": prep + selectit.create_pipeline(),
        "random": prep + random_baseline.create_pipeline(),
        "reference": prep + reference.create_pipeline(),
        "compare": reporting.create_pipeline(),
    }
    pipelines["__default__"] = (
        pipelines["less"] + pipelines["selectit"] + pipelines["random"] + pipelines["reference"] + pipelines["compare"]
    )
    return pipelines
