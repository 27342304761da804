"""Comparison of every evaluated method at the same budget."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

METRICS = ["mmlu_accuracy", "bbh_accuracy", "test_response_loss"]


def compare_methods(less: dict, random: dict, reference: dict):
    """A table (one row per method) and a bar chart of the target metrics."""
    rows = []
    for name, metrics in [("less", less), ("random", random), ("base model (no fine-tune)", reference)]:
        rows.append({"method": name, **{m: metrics.get(m) for m in METRICS}})
    table = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.5))
    for ax, metric in zip(axes, METRICS):
        ax.bar(table["method"], table[metric].astype(float), color=["C0", "C1", "C7"])
        ax.set_title(metric)
        ax.tick_params(axis="x", rotation=20, labelsize=8)
    fig.tight_layout()
    return table, fig
