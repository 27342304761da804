"""The comparison report: every evaluated method against random and the base model, with uncertainty.

For each (method, metric) the report gives the mean over judge seeds, the std of the per-seed means, a 95% CI (a
bootstrap over test questions, and over seeds when there are several) and the difference from the random baseline
with a *paired* bootstrap CI (the same resampled questions, and judge seeds, for both). Statistics: :mod:`data_selection.core.stats`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import wraps
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data_selection.core import stats  # noqa: E402
from data_selection.pipelines.parameters import JudgeParams  # noqa: E402

#: per-question columns of ``test_predictions`` and the metric each one averages to
PER_QUESTION = {"accuracy": "correct", "option_nll": "option_nll", "letter_mass": "letter_mass", "response_loss": "response_loss"}
TASKS = ("mmlu", "bbh")
#: per-question quantities where lower is better (a task prefix does not change that)
LOWER_IS_BETTER = {"option_nll", "response_loss"}
BASELINE = "random"
REFERENCE = "reference"
#: the image track's baseline (random real images at the same IPC) and ceiling (the whole pool)
IMAGE_BASELINE = "random_images"
IMAGE_REFERENCE = "full_images"


def metric_names() -> list[str]:
    """Every metric the report can compute: overall (``accuracy``, ``option_nll``, ``letter_mass``,
    ``test_response_loss``) and per task (``<task>_accuracy``, ``<task>_option_nll``, ...)."""
    overall = ["accuracy", "option_nll", "letter_mass", "test_response_loss"]
    return overall + [f"{t}_{m}" for t in TASKS for m in PER_QUESTION]


def _parse(metric: str) -> tuple[str | None, str]:
    """``"mmlu_option_nll"`` -> ``("mmlu", "option_nll")``; ``"test_response_loss"`` -> ``(None, "response_loss")``."""
    if metric == "test_response_loss":
        return None, "response_loss"
    for task in TASKS:
        if metric.startswith(task + "_"):
            return task, metric[len(task) + 1 :]
    return None, metric


def question_matrix(predictions: list[dict], metric: str) -> tuple[np.ndarray, list[str]]:
    """(S, Q) float64 matrix of one metric's per-question values (rows: seeds; columns: questions sorted by id).

    Raises:
        ValueError: unknown metric, a prediction row without the needed column, or seeds that saw different questions.
    """
    if metric not in metric_names():
        raise ValueError(f"unknown metric {metric!r}; known: {metric_names()}")
    task, base = _parse(metric)
    column = PER_QUESTION[base]
    frame = pd.DataFrame(predictions)
    if column not in frame.columns:
        raise ValueError(f"test predictions lack the per-question column {column!r}: re-run the evaluation")
    if task is not None:
        frame = frame[frame["task"] == task]
    rows, ids = [], None
    for _, group in frame.groupby("seed", sort=True):
        group = group.sort_values("id")
        if ids is None:
            ids = group["id"].tolist()
        elif group["id"].tolist() != ids:
            raise ValueError("the seeds of one method were evaluated on different test questions")
        rows.append(group[column].to_numpy(dtype=np.float64))
    return np.vstack(rows), ids or []


def compare_methods(
    judge: JudgeParams, baseline_of: Mapping[str, str] | None = None, **evaluations: Any
) -> tuple[pd.DataFrame, Any]:
    """The comparison table and plot of the text methods.

    Every method is compared with the random baseline **of its own target model** (``baseline_of``): SmolLM2 methods
    with ``random``, Gemma methods (Small2Large) with ``random_large``; methods on different targets share one table
    but never one delta.

    Args:
        judge: ``params:judge`` (``metrics``, ``bootstrap_resamples``, ``bootstrap_seed``, ``min_questions``).
        baseline_of: ``{method: baseline method}`` (``registry.baseline_of``); methods not in it use ``random``.
        evaluations: ``<method>__predictions`` (rows of ``<method>.test_predictions``), ``<method>__metrics``
            (``<method>.evaluation_metrics``) and, except for ``reference``, ``<method>__summary``
            (``<method>.selection_summary``: the budget in examples) for every registered method and its baseline;
            optionally ``<method>__cost`` (its ``Method.cost`` dataset: real gradient computations).

    Returns:
        (table with one row per (method, metric): ``method, metric, target_model, baseline, train_examples,
        real_gradients, gradient_fraction_of_full_less`` (empty for methods without a ``cost`` dataset), ``mean, std,
        n_seeds, ci95_low, ci95_high, delta_vs_random, delta_ci95_low, delta_ci95_high`` (the delta against
        ``baseline``); the figure).

    Raises:
        ValueError: a method's baseline was not evaluated, or was evaluated on another target model; methods
            evaluated over other seeds than ``judge.seeds``, at different budgets, or on different questions.
    """
    methods = sorted({key.rsplit("__", 1)[0] for key in evaluations})
    baselines = {m: (baseline_of or {}).get(m, BASELINE) for m in methods}
    table = _compare_table(judge, list(judge["metrics"]), evaluations, baselines, REFERENCE)
    return table, comparison_plot(table)


def compare_image_methods(judge: JudgeParams, **evaluations: Any) -> tuple[pd.DataFrame, Any]:
    """The image methods' comparison: top-1 ``accuracy`` of each against ``random_images`` at the same IPC, on the
    same test images, with the same classifier; ``full_images`` (the whole pool) is shown as the ceiling.

    Same statistics as :func:`compare_methods` (bootstrap over test images and judge seeds; the delta to random is a
    paired bootstrap over the same test images and seeds); ``delta_vs_random`` is named as in the text table and
    means "vs ``random_images``". Only ``accuracy`` is reported, whatever ``judge.metrics`` lists.

    Args:
        judge: ``params:judge`` (``seeds``, ``bootstrap_resamples``, ``bootstrap_seed``, ``min_questions``).
        evaluations: ``<method>__predictions``, ``<method>__metrics`` and ``<method>__summary`` for every image method.

    Raises:
        ValueError: no ``random_images``; methods judged over other seeds, at another IPC or budget, on another data
            set, other test images or with another classifier.
    """
    methods = sorted({key.rsplit("__", 1)[0] for key in evaluations})
    datasets = {m: evaluations[f"{m}__metrics"].get("dataset") for m in methods}
    if len(set(datasets.values())) > 1:
        raise ValueError(f"image methods were judged on different data sets: {datasets}; compare on one data set")
    ipcs = {m: evaluations[f"{m}__summary"].get("ipc") for m in methods if m != IMAGE_REFERENCE}
    if len(set(ipcs.values())) > 1:
        raise ValueError(f"image methods selected at different IPC: {ipcs}; compare at one IPC")
    table = _compare_table(judge, ["accuracy"], evaluations, {m: IMAGE_BASELINE for m in methods}, IMAGE_REFERENCE)
    table = table.drop(columns=["real_gradients", "gradient_fraction_of_full_less"])  # LESS-style cost: text only
    table.insert(3, "dataset", table["method"].map(datasets))
    table.insert(4, "ipc", pd.array([ipcs.get(m) for m in table["method"]], dtype="Int64"))  # <NA> for full_images
    return table, comparison_plot(table, IMAGE_REFERENCE, "full data")


def _compare_table(
    judge: JudgeParams, metrics: list[str], evaluations: dict[str, Any], baseline_of: Mapping[str, str], reference: str
) -> pd.DataFrame:
    """One row per (method, metric) with the mean, CIs and the paired delta to the method's baseline
    (``baseline_of[method]``; see :func:`compare_methods`).

    ``reference`` (the base model, or the full data) is exempt from the budget and seed checks (the full-data run is
    the costly one on CPU: it may be judged over fewer seeds) and is paired on questions only when its seeds differ.
    """
    methods = sorted({key.rsplit("__", 1)[0] for key in evaluations})
    for method in methods:
        if baseline_of[method] not in methods:
            raise ValueError(
                f"the comparison needs the random baseline's evaluation (pipeline `{baseline_of[method]}`) for {method}"
            )
    baselines = sorted(set(baseline_of.values()))
    order = [m for m in methods if m not in baselines and m != reference] + baselines + ([reference] if reference in methods else [])
    wanted = [str(s) for s in judge["seeds"]]
    for method in order:
        seen = [str(s) for s in evaluations[f"{method}__metrics"].get("seeds", [])]
        if method != reference and seen != wanted:
            raise ValueError(
                f"{method} was evaluated over seeds {seen} but judge.seeds is {wanted}: re-run its pipeline "
                f"(`kedro run --pipeline={method}`) so that every method is judged over the same seeds"
            )
    budgets = {m: evaluations[f"{m}__summary"]["selected"] for m in order if f"{m}__summary" in evaluations}
    compared = {m: b for m, b in budgets.items() if m != reference}
    if len(set(compared.values())) > 1:
        raise ValueError(f"methods selected different numbers of examples: {compared}; compare at one budget")
    targets = {m: evaluations[f"{m}__metrics"].get("target_model") for m in order}
    for method in order:
        base = baseline_of[method]
        if targets[method] != targets[base]:
            raise ValueError(
                f"{method} was evaluated on target model {targets[method]!r} but its baseline {base} on "
                f"{targets[base]!r}; compare on one target (re-run {base} with the same target_model)"
            )
    options = dict(
        n_resamples=int(judge["bootstrap_resamples"]), seed=int(judge["bootstrap_seed"]), min_questions=int(judge["min_questions"])
    )
    seeds_of = lambda m: [str(s) for s in evaluations[f"{m}__metrics"].get("seeds", [])]  # noqa: E731
    rows = []
    for metric in metrics:
        matrices = {m: question_matrix(evaluations[f"{m}__predictions"], metric) for m in order}
        for method in order:
            base = baseline_of[method]
            base_matrix, base_ids = matrices[base]
            matrix, ids = matrices[method]
            if ids != base_ids:
                raise ValueError(f"{method} and {base} were evaluated on different test questions: re-run both")
            summary = stats.summarise_over_seeds(matrix, **options)
            # seed s of a method and of random share their seed-dependent randomness (LoRA init, data order), so
            # the seeds are paired as well as the questions; the base model (one run) is paired on questions only
            paired = method != reference or seeds_of(method) == seeds_of(base)
            delta, low, high = stats.paired_delta_ci(matrix, base_matrix, pair_seeds=paired, **options)
            cost = evaluations.get(f"{method}__cost") or {}
            rows.append(
                {"method": method, "metric": metric, "target_model": targets[method], "baseline": base,
                 "train_examples": budgets.get(method, 0), "real_gradients": cost.get("gradients"),
                 "gradient_fraction_of_full_less": cost.get("fraction_of_full_less"), **summary,
                 "delta_vs_random": delta, "delta_ci95_low": low, "delta_ci95_high": high}
            )
    return pd.DataFrame(rows)


def comparison_plot(table: pd.DataFrame, reference: str = REFERENCE, reference_label: str = "base model"):
    """One panel per metric: each method's mean with its 95% CI; each target's random baseline (dashed) and the
    reference (dotted: the base model for text, the full data for images). A method with a gradient cost (LESS-style)
    has its real gradient count and share of full LESS's under its name."""
    metrics = list(dict.fromkeys(table["metric"]))
    ncols = min(4, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        part = table[(table["metric"] == metric) & (table["method"] != reference)].reset_index(drop=True)
        x = np.arange(len(part))
        err = np.vstack([part["mean"] - part["ci95_low"], part["ci95_high"] - part["mean"]])
        ax.errorbar(x, part["mean"], yerr=err, fmt="o", capsize=4, color="C0")
        for i, baseline in enumerate(sorted(set(table["baseline"]))):  # one dashed line per target's random
            random_mean = table[(table["metric"] == metric) & (table["method"] == baseline)]["mean"]
            if len(random_mean):
                ax.axhline(float(random_mean.iloc[0]), color=f"C{i + 1}", linestyle="--", label=baseline)
        reference_mean = table[(table["metric"] == metric) & (table["method"] == reference)]["mean"]
        if len(reference_mean):
            ax.axhline(float(reference_mean.iloc[0]), color="grey", linestyle=":", label=reference_label)
        ax.set_xticks(x, [_tick_label(row) for _, row in part.iterrows()], rotation=20, fontsize=8)
        ax.set_title(metric + (" (lower is better)" if _parse(metric)[1] in LOWER_IS_BETTER else ""), fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def gradient_cost(row: Mapping[str, Any]) -> tuple[int, float | None] | None:
    """A comparison-table row's ``(real_gradients, gradient_fraction_of_full_less)``; ``None`` for a method without a
    gradient cost (the column missing, None or NaN, as in the CSV), the fraction ``None`` when only it is missing."""
    gradients = row.get("real_gradients")
    if gradients is None or pd.isna(gradients):
        return None
    fraction = row.get("gradient_fraction_of_full_less")
    return int(gradients), (None if fraction is None or pd.isna(fraction) else float(fraction))


def _tick_label(row: pd.Series) -> str:
    """The method's name, and under it its real gradient count and share of full LESS's when it has a cost."""
    cost = gradient_cost(row)
    if cost is None:
        return str(row["method"])
    gradients, fraction = cost
    share = "" if fraction is None else f", {100 * fraction:.0f} %"
    return f"{row['method']}\n{gradients:,} grads{share}"


def for_baselines(baseline_of: Mapping[str, str]):
    """:func:`compare_methods` with ``baseline_of`` bound (a plain function, so Kedro still reads its signature)."""

    @wraps(compare_methods)
    def bound(*args, **kwargs):
        return compare_methods(*args, baseline_of=dict(baseline_of), **kwargs)

    return bound


def evaluation_inputs(methods: Mapping[str, Any], costs: Mapping[str, str] | None = None) -> dict[str, str]:
    """The report node's inputs: ``{"<m>__predictions": "<m>.test_predictions", "<m>__metrics": ..., "<m>__summary": ...}``,
    plus ``"<m>__cost": "<m>.<dataset>"`` for the methods in ``costs`` (``{method: its cost dataset}``)."""
    inputs = {}
    for name in methods:
        inputs[f"{name}__predictions"] = f"{name}.test_predictions"
        inputs[f"{name}__metrics"] = f"{name}.evaluation_metrics"
        if name != REFERENCE:
            inputs[f"{name}__summary"] = f"{name}.selection_summary"
        if costs and name in costs:
            inputs[f"{name}__cost"] = f"{name}.{costs[name]}"
    return inputs
