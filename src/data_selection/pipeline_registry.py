"""Project pipelines, built from the method registry (:mod:`data_selection.pipelines.registry`).

``data_prep``   the shared pool and target questions
``<method>``    data prep + the method's selection + its track (``kedro run --pipeline=less``), for every registered
                method (``less``, ``selectit``, ``random``, ...)
``reference``   data prep + the base model evaluated without fine-tuning
``image_data``  the image pool and held-out test images (catalog ``image_source``, ``params:image_data``)
``compare``     every text method, random and the base model over ``judge.seeds``, then the comparison report
``compare_images`` every image method, ``random_images`` and ``full_images`` over ``judge.seeds``, then the image
                comparison report (accuracy, paired bootstrap over test images)
``__default__`` = ``compare``

Image methods (``track="image"``) are built on ``image_data`` instead of the text ``data_prep``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from data_selection.pipelines import data_prep, image_data, reporting
from data_selection.pipelines.registry import baseline_of, method_pipeline, registered_methods
from data_selection.pipelines.tracks.text import create_reference_pipeline


def register_pipelines() -> dict[str, Pipeline]:
    prep = data_prep.create_pipeline()
    image_prep = image_data.create_pipeline()
    methods = registered_methods()
    pipelines: dict[str, Pipeline] = {"data_prep": prep, "image_data": image_prep}
    for name, method in methods.items():
        pipelines[name] = (image_prep if method.track == "image" else prep) + method_pipeline(method)
    reference = create_reference_pipeline()
    pipelines["reference"] = prep + reference
    text_methods = [m for m in methods.values() if m.track == "text"]
    compare = prep + reference
    for method in text_methods:
        compare += method_pipeline(method)
    costs = {m.name: m.cost for m in text_methods if m.cost}
    compare += reporting.create_pipeline([m.name for m in text_methods] + ["reference"], baseline_of(methods), costs)
    pipelines["compare"] = compare
    image_methods = [m for m in methods.values() if m.track == "image"]
    compare_images = image_prep
    for method in image_methods:
        compare_images += method_pipeline(method)
    compare_images += reporting.create_image_pipeline([m.name for m in image_methods])
    pipelines["compare_images"] = compare_images
    pipelines["__default__"] = compare
    return pipelines
