"""Project pipelines, built from the method registry (:mod:`data_selection.pipelines.registry`).

``data_prep``   the shared pool and target questions
``<method>``    data prep + the method's selection + its track (``kedro run --pipeline=less``), for every registered
                method (``less``, ``selectit``, ``random``, ...)
``reference``   data prep + the base model evaluated without fine-tuning
``image_data``  the image pool and held-out test images (catalog ``image_source``, ``params:image_data``)
``compare``     the comparison ``make compare`` runs (MLflow parent run ``compare``): LESS and SelectIT against random
                and the base model (:data:`CORE_COMPARISON`; SmolLM2 as the target) over ``judge.seeds``, then the
                comparison report
``compare_all`` every registered text method, the random baseline of each target and the base model over
                ``judge.seeds``, then the same report (many hours on 2 CPU cores)
``compare_images`` every image method, ``random_images`` and ``full_images`` over ``judge.seeds``, then the image
                comparison report (accuracy, paired bootstrap over test images)
``__default__`` = ``compare`` (a bare ``kedro run``)

Image methods (``track="image"``) are built on ``image_data`` instead of the text ``data_prep``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from data_selection.pipelines import data_prep, image_data, reporting
from data_selection.pipelines.registry import baseline_of, method_pipeline, registered_methods
from data_selection.pipelines.tracks.text import create_reference_pipeline


#: the methods of ``compare`` (with ``reference``, the base model): issue 6's judge of LESS and SelectIT, about 75
#: minutes on 2 CPU cores with 3 judge seeds, where ``compare_all`` (every text method) takes many hours
CORE_COMPARISON: tuple[str, ...] = ("less", "selectit", "random")


def _comparison(prep: Pipeline, reference: Pipeline, methods: list, baselines: dict[str, str]) -> Pipeline:
    """Data prep, the base model, every method in ``methods`` with its track, and the report over them."""
    pipeline = prep + reference
    for method in methods:
        pipeline += method_pipeline(method)
    costs = {m.name: m.cost for m in methods if m.cost}
    return pipeline + reporting.create_pipeline([m.name for m in methods] + ["reference"], baselines, costs)


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
    baselines = baseline_of(methods)
    pipelines["compare"] = _comparison(prep, reference, [methods[name] for name in CORE_COMPARISON], baselines)
    pipelines["compare_all"] = _comparison(prep, reference, text_methods, baselines)
    image_methods = [m for m in methods.values() if m.track == "image"]
    compare_images = image_prep
    for method in image_methods:
        compare_images += method_pipeline(method)
    compare_images += reporting.create_image_pipeline([m.name for m in image_methods])
    pipelines["compare_images"] = compare_images
    pipelines["__default__"] = pipelines["compare"]
    return pipelines
