"""LESS nodes (Xia et al. 2024): warmup LoRA, gradient datastore, influence scores (the shared ``select`` stage
keeps the top budget).

The math is in :mod:`data_selection.core.less`; gradients in :mod:`data_selection.llm.less_features`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import numpy as np

from data_selection.core.less import (
    aggregate_influence,
    ordered_checkpoint_weights,
    pairwise_influence,
    target_columns,
)
from data_selection.core.selection import random_indices
from data_selection.core.shards import ShardStore
from data_selection.llm.less_features import collect_features, encode_pool, encode_validation
from data_selection.llm.models import CausalLM
from data_selection.llm.prompts import resolve_prompt_format
from data_selection.llm.throughput import pass_report
from data_selection.llm.training import train_lora
from data_selection.pipelines.less.parameters import LessOptions, LessParams
from data_selection.pipelines.select.nodes import scores_table

logger = logging.getLogger(__name__)


def sample_warmup_set(pool: list[dict], params: LessParams) -> list[dict]:
    """A random ``warmup_fraction`` of the pool (LESS §4.1, 5% in the paper), seeded by ``warmup_seed``."""
    fraction = float(params["warmup_fraction"])
    if not 0 < fraction <= 1:
        raise ValueError(f"warmup_fraction must be in (0, 1], got {fraction}")
    count = max(1, int(np.floor(fraction * len(pool))))
    return [pool[i] for i in random_indices(len(pool), count, int(params["warmup_seed"]))]


def check_less_params(params: dict[str, Any]) -> dict[str, Any]:
    """The LESS options (``target_task``, ``prompt_format``, ``validation_labels``, ``bbh_shots``) of ``params`` with
    their official defaults filled in, by the same schema Kedro validates ``params:less`` with.

    Raises:
        ValueError: a bad value (``pydantic.ValidationError`` is a ``ValueError``).
    """
    return LessOptions.model_validate({k: params[k] for k in LessOptions.model_fields if k in params})


def warmup_lora(base_model: CausalLM, warmup_set: list[dict], params: dict[str, Any]) -> tuple[dict, dict]:
    """Warmup LoRA training; one checkpoint per epoch with LoRA weights, AdamW moments and mean LR.

    The summary's ``checkpoints`` maps each checkpoint name to its own recorded ``epoch``, ``step`` and
    ``mean_lr`` (the same values as each bundle's ``meta``), which :func:`score_influence` weights by.
    """
    options = check_less_params(params)
    resolve_prompt_format(base_model.tokenizer, options["prompt_format"])  # fail before training
    _, snapshots, summary = train_lora(
        base_model,
        warmup_set,
        params["lora"],
        params["warmup_training"],
        snapshot_each_epoch=True,
        prompt_format=options["prompt_format"],
    )
    bundles = {}
    for snap in snapshots:
        tensors = {f"lora.{k}": v for k, v in snap["lora"].items()}
        tensors.update({f"exp_avg.{k}": v for k, v in snap["exp_avg"].items()})
        tensors.update({f"exp_avg_sq.{k}": v for k, v in snap["exp_avg_sq"].items()})
        meta = {"epoch": snap["epoch"], "step": snap["step"], "mean_lr": snap["mean_lr"], "lora": dict(params["lora"])}
        bundles[f"epoch_{snap['epoch']}"] = {"tensors": tensors, "meta": meta}
    summary["checkpoint_mean_lrs"] = [s["mean_lr"] for s in snapshots]
    summary["checkpoints"] = {
        name: {k: bundle["meta"][k] for k in ("epoch", "step", "mean_lr")} for name, bundle in bundles.items()
    }
    summary["prompt_format"] = options["prompt_format"]
    return bundles, summary


def gradient_fingerprint(base_model: CausalLM, warmup_checkpoints: dict, encoded: list[dict], params: dict[str, Any]) -> str:
    """A hash of everything a pool gradient depends on: the model's name, every checkpoint tensor (LoRA weights and
    Adam moments), the encoded examples (tokens and labels) and the LoRA / gradient / prompt parameters. Shards
    stored under another fingerprint are never reused (:meth:`ShardStore.bind`)."""
    digest = hashlib.sha256()
    keys = ("lora", "gradients", "prompt_format")
    digest.update(json.dumps([base_model.name, {k: params.get(k) for k in keys}], sort_keys=True, default=str).encode())
    for name in sorted(warmup_checkpoints):
        for key in sorted(warmup_checkpoints[name]["tensors"]):
            digest.update(f"{name}/{key}".encode())
            digest.update(warmup_checkpoints[name]["tensors"][key].detach().cpu().contiguous().numpy().tobytes())
    for example in encoded:
        digest.update(np.asarray(example["input_ids"], dtype=np.int64).tobytes())
        digest.update(np.asarray(example["labels"], dtype=np.int64).tobytes())
    return digest.hexdigest()


def pool_gradient_features(
    base_model: CausalLM, warmup_checkpoints: dict, pool: list[dict], gradient_shards: ShardStore, params: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict]:
    """Adam-preconditioned, projected, normalised LoRA gradients of every pool example, per checkpoint, computed in
    shards (``less.sharding``): ``shard_size`` examples per file of ``gradient_shards``, by the ``local`` or ``ray``
    executor (:func:`data_selection.executors.run_shards`). A rerun after a kill computes only the missing shards;
    shards of other inputs (:func:`gradient_fingerprint`) are deleted, never reused.

    Pool examples are encoded in ``less.prompt_format`` (official: Tulu), as in the warmup.

    Returns:
        (``{checkpoint: float32 (N, projection_dim)}`` in pool order; timings ``{forward_backward_s, projection_s,
        examples_per_s, tokens_per_s, padding_fraction, gflop_per_s, floor_tokens_per_s, floor_share, wall_s,
        shards: {shards, computed, reused, corrupt}, executor}``: all but the last three over the shards computed in
        this process, so only for the ``local`` executor; ``llm.throughput.pass_report``).
    """
    from data_selection.executors import run_shards

    options = check_less_params(params)
    encoded = encode_pool(
        base_model.tokenizer, [r["messages"] for r in pool], int(params["gradients"]["max_length"]), options["prompt_format"]
    )
    sharding = params.get("sharding") or {"shard_size": 64, "executor": "local", "ray": {}}
    gradient_shards.bind(gradient_fingerprint(base_model, warmup_checkpoints, encoded, params))
    spent = {"forward_backward_s": 0.0, "projection_s": 0.0, "examples": 0, "tokens": 0, "padded_tokens": 0, "flop": 0.0}

    def make_compute():
        def compute(start: int, stop: int) -> dict[str, np.ndarray]:
            features, timings = collect_features(base_model, encoded[start:stop], warmup_checkpoints, params["lora"],
                                                 params["gradients"], "adam", f"pool {start}-{stop}")
            spent["forward_backward_s"] += timings["forward_backward_s"]
            spent["projection_s"] += timings["projection_s"]
            spent["examples"] += (stop - start) * len(features)
            for key in ("tokens", "padded_tokens", "flop"):
                spent[key] += timings[key]
            return features

        return compute

    started = time.perf_counter()
    features, report = run_shards(gradient_shards, [r["id"] for r in pool], int(sharding["shard_size"]), make_compute,
                                  sharding["executor"], sharding.get("ray"), description="LESS pool gradients")
    busy = spent["forward_backward_s"] + spent["projection_s"]
    timings = {"forward_backward_s": spent["forward_backward_s"], "projection_s": spent["projection_s"],
               "examples_per_s": spent["examples"] / busy if busy else None,
               **(pass_report(busy, spent["tokens"], spent["padded_tokens"], spent["flop"]) if busy else {}),
               "wall_s": time.perf_counter() - started,
               "shards": report.as_dict(), "executor": sharding["executor"]}
    return features, timings


def validation_gradient_features(
    base_model: CausalLM, warmup_checkpoints: dict, target_validation: list[dict], params: dict[str, Any]
) -> dict[str, np.ndarray]:
    """SGD (not Adam) projected, normalised gradients of every validation question (all target tasks).

    Questions are in the official LESS task format with ``less.validation_labels`` (official: only the
    answer letter labelled). Every task's questions are kept, one row each in ``target_validation`` order,
    so one datastore serves ``target_task`` mmlu, bbh and joint.
    """
    options = check_less_params(params)
    encoded = encode_validation(
        base_model.tokenizer,
        target_validation,
        int(params["gradients"]["max_length"]),
        options["prompt_format"],
        options["validation_labels"],
        options["bbh_shots"],
    )
    features, _ = collect_features(
        base_model, encoded, warmup_checkpoints, params["lora"], params["gradients"], "sgd", "validation"
    )
    return features


def target_influence(
    features: dict[str, np.ndarray],
    validation_features: dict[str, np.ndarray],
    warmup_summary: dict,
    target_validation: list[dict],
    options: LessOptions,
    n_examples: int | None = None,
) -> tuple[np.ndarray, list[str]]:
    """LESS influence (Eq. 3: checkpoint-weighted cosines, weights = each checkpoint's recorded mean learning rate)
    of the gradient features of N examples on the validation questions of ``options["target_task"]``; shared by
    ``less.score_influence`` and ``less_predictor``'s real influence.

    Args:
        features: checkpoint name -> (N, d) gradient features (``pool_gradient_features``).
        validation_features: checkpoint name -> (V, d), one row per ``target_validation`` question.
        warmup_summary: ``warmup_lora``'s summary with its per-checkpoint ``checkpoints`` record.
        target_validation: the V validation questions (``task``, ``subtask``).
        options: :func:`check_less_params` of ``params:less``.
        n_examples: N when the caller knows it (checked against every checkpoint's rows).

    Returns:
        (float (N, T) influence on the T questions of the target task, their T ``task/subtask`` labels).

    Raises:
        ValueError: no per-checkpoint record, checkpoints that differ between the summary and the features, row
            counts that do not match the examples or the validation questions, or a target without questions.
    """
    if "checkpoints" not in warmup_summary:
        raise ValueError("warmup_summary has no per-checkpoint 'checkpoints' record: rerun warmup_lora")
    names, weights = ordered_checkpoint_weights(warmup_summary["checkpoints"])
    if sorted(names) != sorted(features) or sorted(names) != sorted(validation_features):
        raise ValueError(
            f"checkpoints {names} differ from pool features {sorted(features)} "
            f"or validation features {sorted(validation_features)}"
        )
    for name in names:
        if n_examples is not None and features[name].shape[0] != n_examples:
            raise ValueError(f"{features[name].shape[0]} feature rows for {n_examples} examples at {name}")
    columns = target_columns([r["task"] for r in target_validation], options["target_task"])
    for name in names:
        if validation_features[name].shape[0] != len(target_validation):
            raise ValueError(
                f"{validation_features[name].shape[0]} validation feature rows for {len(target_validation)} "
                "validation questions: rerun validation_gradient_features"
            )
    influence = pairwise_influence(
        [features[n] for n in names], [np.asarray(validation_features[n])[columns] for n in names], weights
    )
    subtasks = [f"{target_validation[i]['task']}/{target_validation[i]['subtask']}" for i in columns]
    return influence, subtasks


def score_influence(
    pool: list[dict],
    pool_features: dict[str, np.ndarray],
    validation_features: dict[str, np.ndarray],
    warmup_summary: dict,
    target_validation: list[dict],
    params: dict[str, Any],
):
    """Influence of each pool example on ``less.target_task`` (LESS Eq. 3 + subtask mean, max).

    Only the validation questions of the target task are matched (all of them for ``joint``); the max runs
    over the subtasks of that task. Checkpoints are weighted by their own recorded mean learning rate
    (``warmup_summary["checkpoints"]``) and paired by name, in epoch order.

    Returns:
        a table (id, source, subtask, score, rank, best_subtask, target_task), one row per pool example.

    Raises:
        ValueError: the target has no validation questions, or features and checkpoints do not match.
    """
    options = check_less_params(params)
    influence, subtasks = target_influence(pool_features, validation_features, warmup_summary, target_validation, options)
    scores, per_subtask, subtask_names = aggregate_influence(influence, subtasks, params["aggregation"])
    best = [subtask_names[i] for i in per_subtask.argmax(axis=1)]
    return scores_table(pool, scores, {"best_subtask": best, "target_task": options["target_task"]})


def count_gradients(pool: list[dict], validation_features: dict[str, np.ndarray], warmup_summary: dict) -> dict[str, Any]:
    """Full LESS's real gradient computations (every pool example and validation question at every warmup
    checkpoint), in the same form as ``less_predictor.gradient_counts``, so the comparison report can show both."""
    from data_selection.core.influence_predictor import gradient_counts

    n_val = int(next(iter(validation_features.values())).shape[0])
    return gradient_counts(len(pool), len(pool), n_val, len(warmup_summary["checkpoints"]))
