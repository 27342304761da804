"""The text track: materialise the selection verbatim -> LoRA fine-tune per judge seed -> multiple-choice evaluation.

Every text method goes through these same nodes under its own namespace with the same shared parameters
(``params:finetune``, ``params:evaluate``, ``params:judge``), so only the selected subset differs between methods.
"""

from __future__ import annotations

import copy
import logging
from functools import wraps
from typing import Any

import numpy as np
import pandas as pd
from kedro.pipeline import Pipeline, node

from data_selection.llm.models import CausalLM
from data_selection.pipelines.evaluate.nodes import evaluate_model
from data_selection.pipelines.finetune.nodes import finetune_lora
from data_selection.pipelines.parameters import EvaluateParams, FinetuneParams, JudgeParams, SelectionParams
from data_selection.pipelines.select.nodes import selection_count, validate_selection

logger = logging.getLogger(__name__)


def materialise_text(
    pool: list[dict], selection: pd.DataFrame, selection_params: SelectionParams
) -> tuple[list[dict], list[dict], dict[str, Any]]:
    """Check the selection against the contract and the budget, and fetch its records from the pool.

    A selection may hold one subset, or one per judge seed (a ``seed`` column: the random baseline draws a new
    subset for every seed); each is checked separately.

    Returns:
        (selected_subset: the normalised records in rank order, each with ``selection_seed`` (the draw's seed, or
        None for a subset shared by every seed), for the fine-tune; selected_original: the selected pool records
        (each draw's union, first occurrence) that the verbatim dataset writes in their sources' own formats,
        byte-identical to the input; selection_summary: pool size, subset size, counts by source, score cut-off).

    Raises:
        ValueError: the selection breaks the contract (see ``validate_selection``) or misses the budget.
    """
    by_id = {r["id"]: r for r in pool}
    count = selection_count(len(pool), selection_params)
    draws = [(None, selection)] if "seed" not in selection.columns else list(selection.groupby("seed", sort=True))
    subset: list[dict] = []
    original: dict[str, dict] = {}
    for seed, table in draws:
        table = table.reset_index(drop=True)
        validate_selection(table, list(by_id), expected_count=count)
        for record_id in table["id"].astype(str):
            record = by_id[record_id]
            subset.append({**record, "selection_seed": None if seed is None else int(seed)})
            original.setdefault(record_id, record)
    first = draws[0][1]
    by_source: dict[str, int] = {}
    for record_id in first["id"].astype(str):
        source = by_id[record_id]["source"]
        by_source[source] = by_source.get(source, 0) + 1
    scores = first["score"].to_numpy(dtype=np.float64)
    summary = {
        "pool_size": len(pool),
        "selected": count,
        "draws": len(draws),
        "selected_by_source": by_source,
        "score_cutoff": float(np.nanmin(scores)) if np.isfinite(scores).any() else None,
    }
    return subset, list(original.values()), summary


def _seeded(finetune_params: dict[str, Any], seed: int) -> dict[str, Any]:
    """The fine-tune parameters for one judge seed: the seed sets the LoRA initialisation and the data order."""
    params = copy.deepcopy(dict(finetune_params))
    params["lora"] = {**params["lora"], "init_seed": int(seed)}
    params["training"] = {**params["training"], "seed": int(seed)}
    return params


def finetune_over_seeds(
    base_model: CausalLM, selected_subset: list[dict], finetune_params: FinetuneParams, judge: JudgeParams
) -> tuple[dict[str, dict], dict[str, Any]]:
    """LoRA fine-tune the target model once per judge seed (``judge.seeds``) on the selected subset.

    Returns:
        (adapters ``{"seed_<s>": {"tensors", "meta"}}``, summary ``{"seeds", "per_seed": {s: training summary}}``).

    Raises:
        ValueError: a seed has no records (a per-seed selection lacks that seed).
    """
    adapters, per_seed = {}, {}
    for seed in judge["seeds"]:
        records = [r for r in selected_subset if r.get("selection_seed") in (None, int(seed))]
        if not records:
            raise ValueError(f"no selected records for judge seed {seed}: the selection has no draw for it")
        logger.info("fine-tuning on %d records, seed %d", len(records), seed)
        bundle, summary = finetune_lora(base_model, records, _seeded(finetune_params, seed))
        adapters[f"seed_{int(seed)}"] = bundle["adapter"]
        per_seed[str(int(seed))] = summary
    return adapters, {"seeds": [int(s) for s in judge["seeds"]], "per_seed": per_seed}


def _log_nested_run(method: str, seed: str, metrics: dict[str, float]) -> None:
    """One nested MLflow run per (method, seed) under the pipeline's run, when MLflow tracking is on."""
    import mlflow

    parent = mlflow.active_run()
    if parent is None:
        return
    commit = mlflow.MlflowClient().get_run(parent.info.run_id).data.tags.get("git_commit", "unknown")
    with mlflow.start_run(run_name=f"{method}/seed_{seed}", nested=True):
        mlflow.set_tags({"method": method, "judge_seed": seed, "git_commit": commit})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})


def evaluate_over_seeds(
    base_model: CausalLM,
    finetuned_adapters: dict[str, dict],
    target_test: list[dict],
    finetune_params: dict[str, Any],
    evaluate_params: EvaluateParams,
    method: str = "method",
) -> tuple[dict[str, Any], dict[str, dict], list[dict]]:
    """Evaluate every seed's adapter (or the base model alone when ``finetuned_adapters`` is empty).

    Returns:
        (metrics ``{"method", "target_model", "seeds", "per_seed": {seed: metrics}, "mean": {metric: mean over seeds}}``;
        the means in kedro-mlflow's format; per-question predictions, one row per (seed, question) with ``seed``).
    """
    runs = {name.removeprefix("seed_"): {"adapter": bundle} for name, bundle in sorted(finetuned_adapters.items())}
    if not runs:
        runs = {"base": {}}
    per_seed, rows = {}, []
    for seed, adapter in runs.items():
        metrics, _, predictions = evaluate_model(base_model, adapter, target_test, finetune_params, evaluate_params)
        per_seed[seed] = metrics
        rows.extend({"seed": seed, **p} for p in predictions)
        _log_nested_run(method, seed, metrics)
    names = sorted({k for m in per_seed.values() for k, v in m.items() if isinstance(v, (int, float))})
    mean = {k: float(np.mean([m[k] for m in per_seed.values() if k in m])) for k in names}
    result = {"method": method, "target_model": base_model.name, "seeds": list(runs), "per_seed": per_seed, "mean": mean}
    return result, {k: {"value": v, "step": 0} for k, v in mean.items()}, rows


def no_adapter() -> dict:
    """No fine-tuning: the evaluation then scores the base model itself (the ``reference`` baseline)."""
    return {}


def _for_method(func, method: str):
    """``func`` with its ``method`` keyword bound (a plain function, so Kedro still reads its signature and hints)."""

    @wraps(func)
    def bound(*args, **kwargs):
        return func(*args, method=method, **kwargs)

    return bound


def evaluate_node(namespace: str):
    return node(
        _for_method(evaluate_over_seeds, namespace),
        ["base_model", "finetuned_adapters", "target_test", "params:finetune", "params:evaluate"],
        ["evaluation_metrics", "mlflow_metrics", "test_predictions"],
        name="evaluate_over_seeds",
    )


SHARED_INPUTS = {"pool", "base_model", "target_test"}
SHARED_PARAMETERS = {"params:selection", "params:finetune", "params:evaluate", "params:judge"}


def create_pipeline(namespace: str, target_model: str = "base_model") -> Pipeline:
    """``<ns>.selection`` -> ``<ns>.selected_subset`` -> ``<ns>.finetuned_adapters`` -> ``<ns>.evaluation_metrics``.

    The fine-tune and evaluation nodes read the model as ``base_model``; ``target_model`` names the shared catalog
    entry mapped onto it (default ``base_model``: SmolLM2-135M; ``large_target_model``: Gemma-3-270M).
    """
    template = Pipeline(
        [
            node(
                materialise_text,
                ["pool", "selection", "params:selection"],
                ["selected_subset", "selected_original", "selection_summary"],
                name="materialise_text",
            ),
            node(
                finetune_over_seeds,
                ["base_model", "selected_subset", "params:finetune", "params:judge"],
                ["finetuned_adapters", "finetune_summary"],
                name="finetune_over_seeds",
            ),
            evaluate_node(namespace),
        ]
    )
    inputs = {name: name for name in SHARED_INPUTS} | {"base_model": target_model}
    return Pipeline(
        template, namespace=namespace, inputs=inputs, parameters=SHARED_PARAMETERS, tags=[namespace, "text_track"]
    )


def create_reference_pipeline(namespace: str = "reference") -> Pipeline:
    """The base model without fine-tuning, evaluated by the same node (the comparison's floor)."""
    template = Pipeline([node(no_adapter, None, "finetuned_adapters", name="no_adapter"), evaluate_node(namespace)])
    return Pipeline(
        template,
        namespace=namespace,
        inputs={"base_model", "target_test"},
        parameters={"params:finetune", "params:evaluate"},
        tags=[namespace, "text_track"],
    )
