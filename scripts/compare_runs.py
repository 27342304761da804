"""Compare the text methods you have already run, without rerunning the rest of `kedro run --pipeline=compare`.

    python scripts/compare_runs.py diverseevol dq_text          # each with its own random baseline (run it too)
    python scripts/compare_runs.py small2large --seeds 0 --metrics option_nll accuracy   # runs with judge.seeds=[0]

The evaluations are loaded through the project's catalog (``<method>.test_predictions``, ``.evaluation_metrics``,
``.selection_summary`` and, for LESS-style methods, ``.gradient_counts``), the table is the report node's own
(:func:`data_selection.pipelines.reporting.nodes.compare_methods`, with the same refusals: other seeds, other questions,
other budgets or targets), and it is written to ``data/08_reporting/method_comparison_<methods>.csv`` (and the report's plot beside it, ``.png``)
and printed as the README's Markdown table. Each method's baseline (``random`` or ``random_large``) is added when missing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("methods", nargs="+", help="registered text methods (and `reference` for the base model)")
    parser.add_argument("--env", default=None, help="Kedro configuration environment (default: local)")
    parser.add_argument("--metrics", nargs="+", default=["option_nll", "accuracy", "letter_mass"])
    parser.add_argument("--seeds", nargs="+", type=int, default=None,
                        help="the judge seeds the runs used, when not judge.seeds (e.g. runs made with judge.seeds=[0])")
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT / "scripts"))
    from comparison_table import render
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)  # first: puts this checkout's src/ ahead of any other installed copy of the package
    from data_selection.atomic import atomic_path
    from data_selection.pipelines.registry import baseline_of, registered_methods
    from data_selection.pipelines.reporting.nodes import compare_methods, evaluation_inputs

    methods = registered_methods()
    baselines = baseline_of(methods)
    unknown = [m for m in args.methods if m != "reference" and (m not in methods or methods[m].track != "text")]
    if unknown:
        parser.error(f"not registered text methods: {unknown}")
    names = list(dict.fromkeys(args.methods + [baselines[m] for m in args.methods]))
    costs = {m: methods[m].cost for m in names if m in methods and methods[m].cost}
    with KedroSession.create(project_path=ROOT, env=args.env) as session:
        context = session.load_context()
        catalog = context.catalog
        judge = dict(context.params["judge"])
        if args.seeds is not None:
            judge["seeds"] = args.seeds
        evaluations = {key: catalog.load(dataset) for key, dataset in evaluation_inputs(names, costs).items()}
    table, figure = compare_methods(judge, baseline_of=baselines, **evaluations)
    out = ROOT / "data" / "08_reporting" / f"method_comparison_{'_'.join(names)}.csv"
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    plot = out.with_suffix(".png")
    with atomic_path(plot) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    print(render(table, args.metrics))
    print(f"\nwritten: {out.relative_to(ROOT)} and {plot.name} (every metric with its CI, random dashed)")


if __name__ == "__main__":
    main()
