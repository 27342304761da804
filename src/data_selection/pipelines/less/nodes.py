"""LESS nodes (Xia et al. 2024): warmup LoRA, gradient datastore, influence scores (the shared ``select`` stage
keeps the top budget).

The math is in :mod:`data_selection.core.less`; gradients in :mod:`data_selection.llm.less_features`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from data_selection.core.less import aggregate_influence, checkpoint_weights, pairwise_influence
from data_selection.core.selection import random_indices
from data_selection.llm.evaluation import answer_messages
from data_selection.llm.less_features import collect_features
from data_selection.llm.models import CausalLM
from data_selection.llm.training import train_lora
from data_selection.pipelines.less.parameters import LessParams
from data_selection.pipelines.select.nodes import scores_table

logger = logging.getLogger(__name__)


def sample_warmup_set(pool: list[dict], params: LessParams) -> list[dict]:
    """A random ``warmup_fraction`` of the pool (LESS §4.1, 5% in the paper), seeded by ``warmup_seed``."""
    fraction = float(params["warmup_fraction"])
    if not 0 < fraction <= 1:
        raise ValueError(f"warmup_fraction must be in (0, 1], got {fraction}")
    count = max(1, int(np.floor(fraction * len(pool))))
    return [pool[i] for i in random_indices(len(pool), count, int(params["warmup_seed"]))]


def warmup_lora(base_model: CausalLM, warmup_set: list[dict], params: dict[str, Any]) -> tuple[dict, dict]:
    """Warmup LoRA training; one checkpoint per epoch with LoRA weights, AdamW moments and mean LR."""
    _, snapshots, summary = train_lora(
        base_model, warmup_set, params["lora"], params["warmup_training"], snapshot_each_epoch=True
    )
    bundles = {}
    for snap in snapshots:
        tensors = {f"lora.{k}": v for k, v in snap["lora"].items()}
        tensors.update({f"exp_avg.{k}": v for k, v in snap["exp_avg"].items()})
        tensors.update({f"exp_avg_sq.{k}": v for k, v in snap["exp_avg_sq"].items()})
        meta = {"epoch": snap["epoch"], "step": snap["step"], "mean_lr": snap["mean_lr"], "lora": dict(params["lora"])}
        bundles[f"epoch_{snap['epoch']}"] = {"tensors": tensors, "meta": meta}
    summary["checkpoint_mean_lrs"] = [s["mean_lr"] for s in snapshots]
    return bundles, summary


def pool_gradient_features(
    base_model: CausalLM, warmup_checkpoints: dict, pool: list[dict], params: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict]:
    """Adam-preconditioned, projected, normalised LoRA gradients of every pool example, per checkpoint."""
    return collect_features(
        base_model, [r["messages"] for r in pool], warmup_checkpoints, params["lora"], params["gradients"], "adam", "pool"
    )


def validation_gradient_features(
    base_model: CausalLM, warmup_checkpoints: dict, target_validation: list[dict], params: dict[str, Any]
) -> dict[str, np.ndarray]:
    """SGD (not Adam) projected, normalised gradients of the validation questions with their answers."""
    features, _ = collect_features(
        base_model,
        [answer_messages(r) for r in target_validation],
        warmup_checkpoints,
        params["lora"],
        params["gradients"],
        "sgd",
        "validation",
    )
    return features


def score_influence(
    pool: list[dict],
    pool_features: dict[str, np.ndarray],
    validation_features: dict[str, np.ndarray],
    warmup_summary: dict,
    target_validation: list[dict],
    params: dict[str, Any],
):
    """Influence of each pool example on the target tasks (LESS Eq. 3 + subtask mean, max).

    Returns:
        a table (id, source, subtask, score, rank, best_subtask), one row per pool example.
    """
    names = sorted(pool_features)
    if names != sorted(validation_features):
        raise ValueError(f"pool checkpoints {names} differ from validation checkpoints {sorted(validation_features)}")
    weights = checkpoint_weights(warmup_summary["checkpoint_mean_lrs"])
    if len(weights) != len(names):
        raise ValueError(f"{len(weights)} checkpoint learning rates for {len(names)} feature checkpoints")
    influence = pairwise_influence(
        [pool_features[n] for n in names], [validation_features[n] for n in names], weights
    )
    subtasks = [f"{r['task']}/{r['subtask']}" for r in target_validation]
    scores, per_subtask, subtask_names = aggregate_influence(influence, subtasks, params["aggregation"])
    best = [subtask_names[i] for i in per_subtask.argmax(axis=1)]
    return scores_table(pool, scores, {"best_subtask": best})
