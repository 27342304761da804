"""Full LESS (every pool gradient) against LESS with an influence predictor, on one pool, target and warmup.

Runs, in a fresh copy of the project (``tests.conftest.make_project_copy``), through a KedroSession:

1. ``less`` up to ``less.score_influence``: real influence for every pool example (the reference);
2. ``less_predictor`` up to ``less_predictor.combine_scores``: real influence for the training points (and the
   step-6 candidates), predicted from MiniLM embeddings for the rest.

Both use the same pool (``data_prep.pool.size``), target and ``params:less``, so their warmup checkpoints are the same
(seeded); the script checks that the training points' real influence equals full LESS's. It then prints:

* the extended LESS table: cross-validated (held-out training points) level accuracy and regression R^2 per
  aggregation (avg / max / min, and LESS's subtask_mean_max), with the majority-level accuracy;
* Spearman rho between predicted and real influence on the rest of the pool (real = full LESS's);
* recall of full LESS's top-k (k = the budget) by: the predictor's direct scores (``selection_mode: predicted``),
  the step-6 scores (``candidates``) and a random draw (expected k/n);
* gradient computations and wall times of both runs.

Usage (from the project root)::

    python benchmarks/bench_less_predictor.py --env test --pool-size 400 --json benchmarks/results_less_predictor.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def run(root: Path, env: str, pipeline: str, to_node: str, params: dict) -> float:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    cwd = os.getcwd()
    os.chdir(root)
    try:
        bootstrap_project(root)
        start = time.perf_counter()
        with KedroSession.create(project_path=root, env=env, runtime_params=params) as session:
            session.run(pipeline_names=[pipeline], to_nodes=[to_node])
        return time.perf_counter() - start
    finally:
        os.chdir(cwd)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="test", help="configuration environment (base settings: 'local')")
    parser.add_argument("--pool-size", type=int, default=400)
    parser.add_argument("--train-fraction", type=float, default=0.2)
    parser.add_argument("--n-levels", type=int, default=10)
    parser.add_argument("--cv-folds", type=int, default=5)
    parser.add_argument("--regressor", default="ridge")
    parser.add_argument("--classifier", default="logistic")
    parser.add_argument("--budget-fraction", type=float, default=0.2)
    parser.add_argument("--max-gradient-fraction", type=float, default=None,
                        help="the predictor's cap on real gradients vs full LESS (default: the environment's: "
                             "pool1000 0.3, base/local 0.5, test 1.0)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--analyse", type=Path, default=None,
                        help="recompute the numbers from a finished run's project copy (its data/), without running")
    args = parser.parse_args(argv)

    from tests.conftest import make_project_copy

    from data_selection.core.influence_predictor import recall_at_k, spearman
    from data_selection.core.selection import budget_to_count, top_k_indices

    predictor = {"train_fraction": args.train_fraction, "n_levels": args.n_levels, "cv_folds": args.cv_folds,
                 "regressor": args.regressor, "classifier": args.classifier, "selection_mode": "candidates",
                 "aggregation": "subtask_mean_max"}
    if args.max_gradient_fraction is not None:
        predictor["max_gradient_fraction"] = args.max_gradient_fraction
    params = {"data_prep": {"pool": {"size": args.pool_size}},
              "selection": {"budget_fraction": args.budget_fraction}, "less_predictor": predictor}
    if args.analyse:
        root, wall = args.analyse, {"less": float("nan"), "less_predictor": float("nan")}
    else:
        root = make_project_copy(Path(tempfile.mkdtemp(prefix="bench_less_predictor_")))
        if args.env not in ("base", "local", "test"):
            import shutil

            shutil.copytree(ROOT / "conf" / args.env, root / "conf" / args.env)
        wall = {"less": run(root, args.env, "less", "less.score_influence", params),
                "less_predictor": run(root, args.env, "less_predictor", "less_predictor.combine_scores", params)}

    data = root / "data"
    full = pd.read_csv(data / "07_model_output/less/scores.csv").set_index("id")
    pred = pd.read_csv(data / "07_model_output/less_predictor/scores.csv").set_index("id")
    influence = pd.read_csv(data / "04_feature/less_predictor/training_influence.csv").set_index("id")
    report = json.loads((data / "08_reporting/less_predictor/predictor_report.json").read_text())
    counts = json.loads((data / "08_reporting/less_predictor/gradient_counts.json").read_text())
    pred = pred.loc[full.index]
    same_warmup = float(np.max(np.abs(influence["subtask_mean_max"] - full.loc[influence.index, "score"])))

    n = len(full)
    k = budget_to_count(n, args.budget_fraction)
    reference = full["score"].to_numpy()
    direct = np.where(pred["score_kind"].eq("real") & pred["part"].eq("training"), pred["score"], pred["predicted_score"])
    rest = pred["part"].eq("rest").to_numpy()
    result = {
        "env": args.env, "pool": n, "budget_k": k, "predictor": predictor,
        "seed_table": {a: {key: v[key] for key in ("accuracy", "majority_accuracy", "r2", "spearman")}
                       for a, v in report["aggregations"].items()},
        "training_points": report["training_points"], "candidates": report["candidates"],
        "spearman_rest_predicted_vs_full_less": spearman(reference[rest], pred["predicted_score"].to_numpy()[rest]),
        "recall_topk": {"predicted": recall_at_k(reference, direct, k),
                        "candidates_step6": recall_at_k(reference, pred["score"].to_numpy(), k),
                        "random_expected": k / n,
                        # real influence for a random subset of the same size as the predictor's, ranked first:
                        # each of full LESS's top-k is in it with probability m / n (and then in its top-k)
                        "same_gradients_random_expected": min(1.0, (report["training_points"] + report["candidates"]) / n)},
        "gradient_counts": counts, "wall_s": wall,
        "max_abs_diff_training_influence_vs_full_less": same_warmup,
    }
    # where the hits come from: real scores of training points, step-6 candidates, or predictions; with the number
    # a random pick of the same size from the same part would hit on average
    top = set(top_k_indices(reference, k).tolist())
    picked = set(top_k_indices(pred["score"].to_numpy(), k).tolist())
    parts = {"training": pred["part"].eq("training").to_numpy(), "candidates": pred["candidate"].astype(bool).to_numpy()}
    parts["predicted"] = ~(parts["training"] | parts["candidates"])
    breakdown = {}
    rest_set = set(np.flatnonzero(rest).tolist())
    for name, mask in parts.items():
        members = set(np.flatnonzero(mask).tolist())
        chosen = picked & members
        if name == "candidates":  # the classifier's top level as a set, against as many random rest examples
            chance = len(members) * len(top & rest_set) / max(len(rest_set), 1)
            breakdown[name] = {"picked": len(members), "hits": len(members & top), "chance_hits": chance}
        else:  # picks ranked by prediction, against a random pick of the same size in the same part
            chance = len(chosen) * len(top & members) / max(len(members), 1) if name == "predicted" else float("nan")
            breakdown[name] = {"picked": len(chosen), "hits": len(chosen & top), "chance_hits": chance}
    result["step6_hits_by_part"] = breakdown
    print(f"pool {n}, budget k={k}, env {args.env}; training points {result['training_points']}, "
          f"step-6 candidates {result['candidates']}")
    print("| aggregation | level accuracy (majority) | regression R^2 | Spearman (CV) |")
    print("|---|---|---|---|")
    for a, v in result["seed_table"].items():
        print(f"| {a} | {v['accuracy']:.2f} ({v['majority_accuracy']:.2f}) | {v['r2']:.3f} | {v['spearman']:.3f} |")
    print(f"Spearman rho, predicted vs full LESS on the rest of the pool: {result['spearman_rest_predicted_vs_full_less']:.3f}")
    print("recall of full LESS's top-k: " + ", ".join(f"{m} {v:.3f}" for m, v in result["recall_topk"].items()))
    print(f"gradients: predictor {counts['gradients']} vs full LESS {counts['full_less_gradients']} "
          f"({100 * counts['fraction_of_full_less']:.1f}%)")
    print(f"wall: full LESS {wall['less']:.0f} s, predictor {wall['less_predictor']:.0f} s (each incl. data_prep, warmup)")
    print("hits of full LESS's top-k (random pick of the same size in the same part): training points and predicted "
          "= the step-6 selection's picks; candidates = the whole predicted top level: " + "; ".join(
        f"{p}: {v['hits']}/{v['picked']} ({v['chance_hits']:.1f})" for p, v in breakdown.items()))
    print(f"training influence vs full LESS, max |diff| = {same_warmup:.2e} (same warmup checkpoints)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
