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


def compare_methods(judge: JudgeParams, baseline_of: Mapping[str, str] | None = None, **evaluations: Any) -> tuple[pd.DataFrame, Any]:
    """The comparison table and plot.

    Every method is compared with the random baseline **of its own target model** (``baseline_of``): SmolLM2 methods
    with ``random``, Gemma methods (Small2Large) with ``random_large``; methods on different targets share one table
    but never one delta.

    Args:
        judge: ``params:judge`` (``metrics``, ``bootstrap_resamples``, ``bootstrap_seed``, ``min_questions``).
        baseline_of: ``{method: baseline method}`` (``registry.baseline_of``); methods not in it use ``random``.
        evaluations: ``<method>__predictions`` (rows of ``<method>.test_predictions``), ``<method>__metrics``
            (``<method>.evaluation_metrics``) and, except for ``reference``, ``<method>__summary``
            (``<method>.selection_summary``: the budget in examples) for every registered method and its baseline.

    Returns:
        (table with one row per (method, metric): ``method, metric, target_model, baseline, train_examples, mean, std,
        n_seeds, ci95_low, ci95_high, delta_vs_random, delta_ci95_low, delta_ci95_high`` (the delta against
        ``baseline``); the figure).

    Raises:
        ValueError: a method's baseline was not evaluated, or was evaluated on another target model; methods
            evaluated over other seeds than ``judge.seeds``, at different budgets, or on different questions.
    """
    methods = sorted({key.rsplit("__", 1)[0] for key in evaluations})
    baseline_of = {m: (baseline_of or {}).get(m, BASELINE) for m in methods}
    baselines = sorted(set(baseline_of.values()))
    for method in methods:
        if baseline_of[method] not in methods:
            raise ValueError(
                f"the comparison needs the random baseline's evaluation (pipeline `{baseline_of[method]}`) for {method}"
            )
    order = (
        [m for m in methods if m not in baselines and m != REFERENCE]
        + baselines
        + ([REFERENCE] if REFERENCE in methods else [])
    )
    wanted = [str(s) for s in judge["seeds"]]
    for method in order:
        seen = [str(s) for s in evaluations[f"{method}__metrics"].get("seeds", [])]
        if method != REFERENCE and seen != wanted:
            raise ValueError(
                f"{method} was evaluated over seeds {seen} but judge.seeds is {wanted}: re-run its pipeline "
                f"(`kedro run --pipeline={method}`) so that every method is judged over the same seeds"
            )
    budgets = {m: evaluations[f"{m}__summary"]["selected"] for m in order if m != REFERENCE}
    if len(set(budgets.values())) > 1:
        raise ValueError(f"methods selected different numbers of examples: {budgets}; compare at one budget")
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
    rows = []
    for metric in judge["metrics"]:
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
            paired = matrix.shape[0] == base_matrix.shape[0] and method != REFERENCE
            delta, low, high = stats.paired_delta_ci(matrix, base_matrix, pair_seeds=paired, **options)
            rows.append(
                {"method": method, "metric": metric, "target_model": targets[method], "baseline": base,
                 "train_examples": budgets.get(method, 0), **summary,
                 "delta_vs_random": delta, "delta_ci95_low": low, "delta_ci95_high": high}
            )
    table = pd.DataFrame(rows)
    return table, comparison_plot(table)


def comparison_plot(table: pd.DataFrame):
    """One panel per metric: each method's mean with its 95% CI; random (dashed) and the base model (dotted)."""
    metrics = list(dict.fromkeys(table["metric"]))
    ncols = min(4, len(metrics))
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(metrics) :]:
        ax.set_visible(False)
    for ax, metric in zip(axes.flat, metrics):
        part = table[(table["metric"] == metric) & (table["method"] != REFERENCE)].reset_index(drop=True)
        x = np.arange(len(part))
        err = np.vstack([part["mean"] - part["ci95_low"], part["ci95_high"] - part["mean"]])
        ax.errorbar(x, part["mean"], yerr=err, fmt="o", capsize=4, color="C0")
        for i, baseline in enumerate(sorted(set(table["baseline"]))):  # one dashed line per target's random
            random_mean = table[(table["metric"] == metric) & (table["method"] == baseline)]["mean"]
            if len(random_mean):
                ax.axhline(float(random_mean.iloc[0]), color=f"C{i + 1}", linestyle="--", label=baseline)
        reference = table[(table["metric"] == metric) & (table["method"] == REFERENCE)]["mean"]
        if len(reference):
            ax.axhline(float(reference.iloc[0]), color="grey", linestyle=":", label="base model")
        ax.set_xticks(x, part["method"], rotation=20, fontsize=8)
        ax.set_title(metric + (" (lower is better)" if _parse(metric)[1] in LOWER_IS_BETTER else ""), fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def for_baselines(baseline_of: Mapping[str, str]):
    """:func:`compare_methods` with ``baseline_of`` bound (a plain function, so Kedro still reads its signature)."""

    @wraps(compare_methods)
    def bound(*args, **kwargs):
        return compare_methods(*args, baseline_of=dict(baseline_of), **kwargs)

    return bound


def evaluation_inputs(methods: Mapping[str, Any]) -> dict[str, str]:
    """The report node's inputs: ``{"<m>__predictions": "<m>.test_predictions", "<m>__metrics": ..., "<m>__summary": ...}``."""
    inputs = {}
    for name in methods:
        inputs[f"{name}__predictions"] = f"{name}.test_predictions"
        inputs[f"{name}__metrics"] = f"{name}.evaluation_metrics"
        if name != REFERENCE:
            inputs[f"{name}__summary"] = f"{name}.selection_summary"
    return inputs
