"""Comparison of every evaluated method at the same budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

METRICS = ["mmlu_accuracy", "bbh_accuracy", "test_response_loss"]
ORDER = ["less", "selectit", "random", "reference"]


def compare_methods(metrics_by_method: Mapping[str, Callable[[], dict]], summaries: Mapping[str, Callable[[], dict]]):
    """A table (one row per evaluated method, ``reference`` = base model without fine-tuning) and a bar chart.

    Args:
        metrics_by_method: partitions ``{method: load()}`` of ``data/08_reporting/<method>/evaluation_metrics.json``.
        summaries: partitions of ``.../selection_summary.json`` (the subset size of each method).

    Raises:
        ValueError: no method has been evaluated yet.
    """
    methods = {key.strip("/"): load for key, load in metrics_by_method.items()}
    if not methods:
        raise ValueError("no evaluation metrics found: run a method pipeline first (e.g. `kedro run --pipeline=less`)")
    sizes = {key.strip("/"): load for key, load in summaries.items()}
    names = sorted(methods, key=lambda m: (ORDER.index(m) if m in ORDER else len(ORDER), m))
    rows = []
    for name in names:
        metrics = methods[name]()
        selected = sizes[name]().get("selected") if name in sizes else None
        rows.append({"method": name, "train_examples": selected, **{m: metrics.get(m) for m in METRICS}})
    table = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.5))
    for ax, metric in zip(axes, METRICS):
        ax.bar(table["method"], table[metric].astype(float), color=[f"C{i}" for i in range(len(table))])
        ax.set_title(metric + (" (lower is better)" if "loss" in metric else ""))
        ax.tick_params(axis="x", rotation=20, labelsize=8)
    fig.tight_layout()
    return table, fig
