"""The method registry: which selection methods exist, which track judges each, and how a method pipeline is built.

Adding a method = its folder ``pipelines/<method>/`` (whose ``__init__`` exposes ``METHOD``, a :class:`Method`), its
``conf/base/parameters_<method>.yml`` and ``conf/base/catalog_<method>.yml``, and ONE line in :data:`REGISTERED`.
``pipeline_registry``, ``__default__`` and the ``compare`` report read the methods from here (see
``docs/adding_a_method.md``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from kedro.pipeline import Pipeline

#: one line per method: the package under ``data_selection.pipelines`` that exposes ``METHOD``
REGISTERED: tuple[str, ...] = (
    "less",
    "less_predictor",
    "selectit",
    "random_baseline",
    "dq_text",
    "dq_image",
    "diverseevol",
    "random_images",
    "full_images",
    "small2large",
    "clust_rand",
    "random_large",
    "less_large",
    "ccfs",
    "ccfs_random",
    "ccfs_distilled",
)

Output = Literal["scores", "selection"]


@dataclass(frozen=True)
class Method:
    """A selection method as the project sees it.

    Attributes:
        name: the Kedro namespace and pipeline name (``kedro run --pipeline=<name>``); every dataset it writes is
            ``<name>.<dataset>``.
        track: ``"text"`` or ``"image"``: the shared materialise -> train -> evaluate tail that judges it.
        create_selection: builds the method's own nodes, un-namespaced. They must end in ``scores`` (``output=
            "scores"``: one row per pool example with columns ``id, score``; the shared ``select`` stage keeps the top
            budget) or in ``selection`` (``output="selection"``: the method picks a set itself; a table ``id, rank,
            score`` with score NaN where the method does not score).
        output: ``"scores"`` or ``"selection"``, as above.
        inputs: shared (un-prefixed) datasets the method reads, e.g. ``{"pool", "base_model"}``.
        parameters: shared parameter keys the method reads, e.g. ``{"params:less"}``.
        description: one line for the README and ``kedro registry list``.
        baseline: True for the reference baselines the report compares every method against (random): each method
            is compared with the baseline that has the same ``target_model``.
        target_model: the catalog entry of the model the track fine-tunes and evaluates (text track): ``base_model``
            (SmolLM2-135M, the default) or another :class:`~data_selection.io.datasets.PretrainedModelDataset` entry
            such as ``large_target_model`` (Gemma-3-270M). Point the entry at another model per environment
            (``conf/<env>/catalog.yml``) to switch the target for a run.
        cost: the method's own dataset (un-namespaced) with its compute cost as ``{"gradients", "fraction_of_full_less",
            ...}`` (LESS and the LESS predictor: ``gradient_counts``); the comparison report shows it per method.
    """

    name: str
    track: Literal["text", "image"]
    create_selection: Callable[[], Pipeline]
    output: Output
    inputs: frozenset[str] = field(default_factory=frozenset)
    parameters: frozenset[str] = field(default_factory=frozenset)
    description: str = ""
    baseline: bool = False
    target_model: str = "base_model"
    cost: str | None = None

    def __post_init__(self):
        if self.track not in ("text", "image"):
            raise ValueError(f"method {self.name!r}: unknown track {self.track!r} (text or image)")
        if self.output not in ("scores", "selection"):
            raise ValueError(f"method {self.name!r}: output must be 'scores' or 'selection', got {self.output!r}")
        if not self.target_model or "." in self.target_model:
            raise ValueError(f"method {self.name!r}: target_model must name a shared catalog entry, got {self.target_model!r}")


def registered_methods() -> dict[str, Method]:
    """``{name: Method}`` for every package in :data:`REGISTERED`, in registration order.

    Raises:
        TypeError: a registered package does not expose a ``METHOD`` of type :class:`Method`.
        ValueError: two packages register the same method name.
    """
    methods: dict[str, Method] = {}
    for package in REGISTERED:
        module = importlib.import_module(f"data_selection.pipelines.{package}")
        method = getattr(module, "METHOD", None)
        if not isinstance(method, Method):
            raise TypeError(f"data_selection.pipelines.{package} must expose METHOD = Method(...), got {method!r}")
        if method.name in methods:
            raise ValueError(f"method name {method.name!r} registered twice")
        methods[method.name] = method
    return methods


def method_pipeline(method: Method) -> Pipeline:
    """The method's own nodes under its namespace, the shared ``select`` stage (scoring methods), and its track.

    Datasets: ``<name>.scores`` -> ``<name>.selection`` (the public output, validated by the track's first node) ->
    the track's stages, all under the namespace ``<name>``. An image method whose own nodes output
    ``<name>.synthetic_images`` (a distilled set) gets the image track that adds those images to its selection; one
    that outputs ``<name>.pixel_images`` (DQ's pixel stage) gets the track that trains on those pixels instead of the
    pool's for the ids they cover.
    """
    from data_selection.pipelines import select, tracks

    own = Pipeline(
        method.create_selection(),
        namespace=method.name,
        inputs=set(method.inputs),
        parameters=set(method.parameters),
        tags=method.name,
    )
    if method.output == "scores":
        own = own + select.create_pipeline(method.name)
    options: dict = {"target_model": method.target_model} if method.track == "text" else {}
    if method.track == "image":
        options["synthetic"] = f"{method.name}.synthetic_images" in own.all_outputs()
        options["pixel"] = f"{method.name}.pixel_images" in own.all_outputs()
    return own + tracks.create_track_pipeline(method.track, method.name, **options)


def baseline_of(methods: dict[str, Method], reference_target: str = "base_model") -> dict[str, str]:
    """``{method: the baseline it is compared with}`` for every text method and ``reference``: the baseline method
    (``baseline=True``) that fine-tunes the same ``target_model`` (a baseline is its own).

    Raises:
        ValueError: a text method's target has no baseline, or has more than one.
    """
    baselines: dict[str, str] = {}
    for m in methods.values():
        if m.baseline and m.track == "text":
            if m.target_model in baselines:
                raise ValueError(f"two baselines fine-tune {m.target_model!r}: {baselines[m.target_model]} and {m.name}")
            baselines[m.target_model] = m.name
    out = {}
    targets = {name: m.target_model for name, m in methods.items() if m.track == "text"}
    targets["reference"] = reference_target
    for name, target in targets.items():
        if target not in baselines:
            raise ValueError(f"{name} fine-tunes {target!r} but no baseline method does: register a random baseline on it")
        out[name] = baselines[target]
    return out
