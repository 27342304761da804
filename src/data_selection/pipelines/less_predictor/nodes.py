"""``less_predictor`` nodes: split the pool, real LESS influence for the training points, predict the rest.

The math is in :mod:`data_selection.core.influence_predictor` and :mod:`data_selection.core.less`; gradients come
from LESS's own nodes (:mod:`data_selection.pipelines.less.nodes`), embeddings from :mod:`data_selection.llm.embeddings`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from data_selection.core.influence_predictor import (
    AGGREGATIONS,
    candidate_cap,
    capped_candidates,
    combined_scores,
    gradient_counts,
    cross_validate,
    influence_aggregations,
    make_classifier,
    make_regressor,
    quantile_levels,
    split_training_points,
    top_level_candidates,
)
from data_selection.llm.embeddings import conversation_text, mean_hidden_states
from data_selection.llm.sentence_embeddings import encode_texts
from data_selection.llm.models import CausalLM
from data_selection.pipelines.less.nodes import check_less_params, pool_gradient_features, target_influence
from data_selection.pipelines.less_predictor.parameters import LessPredictorParams
from data_selection.pipelines.select.nodes import scores_table

logger = logging.getLogger(__name__)

#: Smallest pool on which a predictor has enough training points to learn (issue 12: "at least 1,000"); below it
#: the run still finishes but warns that its numbers say nothing about the method.
MIN_PREDICTOR_POOL = 1000


def split_pool(
    pool: list[dict], target_validation: list[dict], params: LessPredictorParams
) -> tuple[list[dict], pd.DataFrame]:
    """Seeded disjoint split (``train_fraction``, ``split_seed``): the training points and a table ``id, index,
    part`` (``training`` or ``rest``) for every pool example, in pool order. Warns on a pool smaller than
    :data:`MIN_PREDICTOR_POOL`.

    Raises:
        ValueError: the training points and the validation questions alone would need more than
            ``max_gradient_fraction`` of full LESS's gradients (checked before any gradient is computed).
    """
    training, _ = split_training_points(len(pool), params["train_fraction"], params["split_seed"])
    candidate_cap(len(pool), len(training), len(target_validation), params["max_gradient_fraction"])
    if len(pool) < MIN_PREDICTOR_POOL:
        logger.warning(
            "less_predictor: a pool of %d gives the predictor %d training points, too few to learn LESS influence "
            "(it needs a pool of >= %d): this run checks the pipeline, its numbers say nothing about the method; "
            "run with --env pool1000", len(pool), len(training), MIN_PREDICTOR_POOL,
        )
    part = np.full(len(pool), "rest", dtype=object)
    part[training] = "training"
    table = pd.DataFrame({"id": [r["id"] for r in pool], "index": np.arange(len(pool)), "part": part})
    return [pool[int(i)] for i in training], table


def real_influence(
    records: list[dict],
    features: dict[str, np.ndarray],
    validation_features: dict[str, np.ndarray],
    warmup_summary: dict,
    target_validation: list[dict],
    less: dict[str, Any],
) -> pd.DataFrame:
    """LESS influence (Eq. 3, checkpoint-weighted cosines) of ``records`` on ``less.target_task``, with every
    aggregation of :data:`~data_selection.core.influence_predictor.AGGREGATIONS` (one column each).

    Raises:
        ValueError: features and checkpoints do not match, or the target has no validation question.
    """
    influence, subtasks = target_influence(
        features, validation_features, warmup_summary, target_validation, check_less_params(less), len(records)
    )
    table = pd.DataFrame({"id": [r["id"] for r in records]})
    for name, values in influence_aggregations(influence, subtasks).items():
        table[name] = values
    return table


def embed_pool(
    sentence_embedder, base_model: CausalLM, pool: list[dict], params: dict[str, Any], less: dict[str, Any]
) -> dict[str, np.ndarray]:
    """Cheap features of every pool example: the shared ``sentence_embedder`` (default MiniLM; unit rows, texts cut
    at ``embedding.max_length`` word pieces) or the base model's mean last hidden state (``features: hidden_states``,
    texts cut at ``less.gradients.max_length`` tokens)."""
    texts = [conversation_text(r["messages"]) for r in pool]
    embedding = params["embedding"]
    if params["features"] == "minilm":
        return {"embeddings": encode_texts(sentence_embedder, texts, embedding["batch_size"], max_seq_length=embedding["max_length"],
                                           progress=True)}
    return {"embeddings": mean_hidden_states(base_model, texts, embedding["batch_size"], int(less["gradients"]["max_length"]))}


def fit_predictors(
    pool: list[dict],
    pool_embeddings: dict[str, np.ndarray],
    pool_split: pd.DataFrame,
    training_influence: pd.DataFrame,
    target_validation: list[dict],
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict, list[dict]]:
    """Cross-validated predictors for every aggregation (the extended LESS table), then the selection predictor.

    For each aggregation: ``cv_folds``-fold R^2 and Spearman rho of the regressor and accuracy of the level
    classifier (``n_levels`` quantile levels), each fold scored only on its held-out training points. Then the
    regressor and the classifier of ``aggregation`` are fitted on every training point and predict the whole pool.
    The step-6 candidates (the rest predicted at the top level) are capped so that the run's real gradients stay
    within ``max_gradient_fraction`` of full LESS's (:func:`candidate_cap`; beyond it, the candidates with the
    highest predicted score), and the report says how many were dropped.

    Returns:
        (predictions ``id, part, predicted_score, predicted_level, candidate`` per pool example; the report;
        the step-6 candidates: the rest predicted at the top level, empty for ``selection_mode: predicted``).

    Raises:
        ValueError: embeddings, split and influence do not describe the same pool.
    """
    X = np.asarray(pool_embeddings["embeddings"], dtype=np.float64)
    if X.shape[0] != len(pool) or pool_split["id"].tolist() != [r["id"] for r in pool]:
        raise ValueError("pool_embeddings / pool_split do not match the pool: rerun embed_pool and split_pool")
    train_idx = pool_split.loc[pool_split["part"] == "training", "index"].to_numpy(dtype=np.int64)
    if training_influence["id"].tolist() != [pool[int(i)]["id"] for i in train_idx]:
        raise ValueError("training_influence rows are not the split's training points: rerun the gradients")
    n_levels, seed, folds = int(params["n_levels"]), int(params["cv_seed"]), int(params["cv_folds"])
    report: dict[str, Any] = {"training_points": int(train_idx.size), "pool": len(pool), "n_levels": n_levels,
                              "regressor": params["regressor"], "classifier": params["classifier"], "cv_folds": folds,
                              "aggregations": {}}
    for name in AGGREGATIONS:
        y = training_influence[name].to_numpy(dtype=np.float64)
        levels = quantile_levels(y, n_levels)
        reg = cross_validate(X[train_idx], y, lambda: make_regressor(params["regressor"], seed), "regression", folds, seed)
        clf = cross_validate(X[train_idx], levels, lambda: make_classifier(params["classifier"], seed), "classification", folds, seed)
        report["aggregations"][name] = {
            "r2": reg["metric"], "r2_folds": reg["folds"], "spearman": reg["spearman"],
            "accuracy": clf["metric"], "accuracy_folds": clf["folds"],
            "majority_accuracy": float(np.bincount(levels).max() / levels.size),
        }
        logger.info("%s: cross-validated R^2 %.3f, Spearman %.3f, level accuracy %.3f (chance %.3f)",
                    name, reg["metric"], reg["spearman"], clf["metric"], 1 / n_levels)
    y = training_influence[params["aggregation"]].to_numpy(dtype=np.float64)
    regressor = make_regressor(params["regressor"], seed).fit(X[train_idx], y)
    classifier = make_classifier(params["classifier"], seed).fit(X[train_idx], quantile_levels(y, n_levels))
    predicted_level = classifier.predict(X).astype(np.int64)
    is_rest = (pool_split["part"] == "rest").to_numpy()
    candidate = np.zeros(len(pool), dtype=bool)
    predicted_score = regressor.predict(X)
    top_level = np.zeros(0, dtype=np.int64)
    if params["selection_mode"] == "candidates":
        top_level = top_level_candidates(np.where(is_rest, predicted_level, -1), n_levels)
        cap = candidate_cap(len(pool), int(train_idx.size), len(target_validation), params["max_gradient_fraction"])
        candidate[capped_candidates(top_level, predicted_score, cap)] = True
    predictions = pd.DataFrame({
        "id": pool_split["id"], "part": pool_split["part"], "predicted_score": predicted_score,
        "predicted_level": predicted_level, "candidate": candidate,
    })
    report["candidates"] = int(candidate.sum())
    report["top_level_predicted"] = int(top_level.size)
    report["candidates_dropped_by_cap"] = int(top_level.size - candidate.sum())
    return predictions, report, [pool[int(i)] for i in np.flatnonzero(candidate)]


def candidate_influence(
    base_model: CausalLM,
    warmup_checkpoints: dict,
    candidates: list[dict],
    candidate_gradient_shards,
    validation_features: dict[str, np.ndarray],
    warmup_summary: dict,
    target_validation: list[dict],
    less: dict[str, Any],
) -> tuple[pd.DataFrame, dict]:
    """Extended LESS step 6: real Adam gradients and influence for the candidates (nothing when there are none)."""
    if not candidates:
        return pd.DataFrame({"id": pd.Series([], dtype=str), **{a: pd.Series([], dtype=float) for a in AGGREGATIONS}}), {}
    features, timings = pool_gradient_features(base_model, warmup_checkpoints, candidates, candidate_gradient_shards, less)
    return real_influence(candidates, features, validation_features, warmup_summary, target_validation, less), timings


def combine_scores(
    pool: list[dict],
    training_influence: pd.DataFrame,
    candidate_influence: pd.DataFrame,
    predictions: pd.DataFrame,
    validation_features: dict[str, np.ndarray],
    warmup_summary: dict,
    params: dict[str, Any],
) -> tuple[pd.DataFrame, dict]:
    """Scores: real influence (``aggregation``) where computed, the regressor's prediction elsewhere; and the
    gradient counts against full LESS on the same pool (one gradient = one example at one checkpoint)."""
    index = {r["id"]: i for i, r in enumerate(pool)}
    name = params["aggregation"]
    real = {index[i]: v for table in (training_influence, candidate_influence) for i, v in zip(table["id"], table[name])}
    scores, is_real = combined_scores(len(pool), real, predictions["predicted_score"].to_numpy())
    extra = {"score_kind": np.where(is_real, "real", "predicted"), "part": predictions["part"].tolist(),
             "predicted_score": predictions["predicted_score"].to_numpy(),
             "predicted_level": predictions["predicted_level"].to_numpy(), "candidate": predictions["candidate"].to_numpy()}
    checkpoints = len(warmup_summary["checkpoints"])
    n_val = int(next(iter(validation_features.values())).shape[0])
    n_train, n_cand = len(training_influence), len(candidate_influence)
    counts = {"training_points": n_train, "candidates": n_cand,
              **gradient_counts(len(pool), n_train + n_cand, n_val, checkpoints)}
    logger.info("real gradients: %d of full LESS's %d (%.1f%%)", counts["gradients"], counts["full_less_gradients"],
                100 * counts["fraction_of_full_less"])
    return scores_table(pool, scores, extra), counts
