"""Render data/08_reporting/method_comparison.csv as the README's Markdown table.

    python scripts/comparison_table.py [path/to/method_comparison.csv] [--metrics option_nll accuracy ...]

One row per method; per metric "mean ± std" over the judge seeds with the 95% CI, and the difference from random
with its paired 95% CI. A difference whose CI excludes 0 is marked with *. When any method carries a gradient cost
(LESS, the LESS predictor), a "real gradients" column gives its count and its share of full LESS's.
"""

from __future__ import annotations

import argparse

import pandas as pd


def gradient_cell(row) -> str:
    """``"626 (29.3 % of LESS)"``; ``""`` for a method without a gradient cost (the report's own reading of the row)."""
    from data_selection.pipelines.reporting.nodes import gradient_cost

    cost = gradient_cost(row)
    if cost is None:
        return ""
    gradients, fraction = cost
    return f"{gradients:,}" + ("" if fraction is None else f" ({100 * fraction:.1f} % of LESS)")


def render(table: pd.DataFrame, metrics: list[str]) -> str:
    """The Markdown table: one row per method (in the table's order), two cells per metric (see the module doc)."""
    methods = list(dict.fromkeys(table["method"]))
    with_cost = "real_gradients" in table and table["real_gradients"].notna().any()
    head = "| method | seeds | " + ("real gradients | " if with_cost else "")
    head += " | ".join(f"{m} (95% CI) | Δ vs random (95% CI)" for m in metrics) + " |"
    lines = [head, "|" + "---|" * (2 + int(with_cost) + 2 * len(metrics))]
    for method in methods:
        cells = []
        n_seeds = ""
        for metric in metrics:
            row = table[(table["method"] == method) & (table["metric"] == metric)]
            if row.empty:
                cells += ["", ""]
                continue
            r = row.iloc[0]
            n_seeds = int(r["n_seeds"])
            cells.append(f"{r['mean']:.4f} ± {r['std']:.4f} [{r['ci95_low']:.4f}, {r['ci95_high']:.4f}]")
            if method == "random":
                cells.append("—")
            else:
                significant = r["delta_ci95_low"] > 0 or r["delta_ci95_high"] < 0
                cells.append(f"{r['delta_vs_random']:+.4f} [{r['delta_ci95_low']:+.4f}, {r['delta_ci95_high']:+.4f}]" + (" *" if significant else ""))
        if with_cost:
            first = table[table["method"] == method].iloc[0]
            cells.insert(0, gradient_cell(first))
        lines.append(f"| {method} | {n_seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", default="data/08_reporting/method_comparison.csv")
    parser.add_argument("--metrics", nargs="+", default=["option_nll", "accuracy", "letter_mass"])
    args = parser.parse_args()
    print(render(pd.read_csv(args.csv), args.metrics))


if __name__ == "__main__":
    main()
