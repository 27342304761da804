"""DiverseEvol nodes: round 0 random, then rounds of embed (previous round's model) -> k-center -> re-fine-tune.

Wu et al. 2023 (arXiv 2311.08182), Sec. 3 and Algorithm 1; official ``train.py`` and
``evol_schedules/kcenter_sampling.py``. Each round is one node with its own catalog outputs (cumulative selection,
embedding summary, adapter, fine-tune summary), so ``kedro run --only-missing-outputs`` after a kill resumes at the
first unfinished round.
"""

from __future__ import annotations

import logging
from functools import wraps
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data_selection.core.diversity import vendi_score  # noqa: E402
from data_selection.core.kcenter import kcenter_greedy  # noqa: E402
from data_selection.core.selection import random_indices  # noqa: E402
from data_selection.llm.models import CausalLM  # noqa: E402
from data_selection.llm.sentence_embeddings import encode_texts  # noqa: E402
from data_selection.pipelines.evaluate.nodes import evaluate_model  # noqa: E402
from data_selection.pipelines.finetune.nodes import finetune_lora  # noqa: E402
from data_selection.pipelines.parameters import EvaluateParams, SelectionParams  # noqa: E402
from data_selection.pipelines.select.nodes import selection_count  # noqa: E402

from .parameters import DiverseEvolParams, round_sizes  # noqa: E402

logger = logging.getLogger(__name__)

ROUND_COLUMNS = ["id", "pool_index", "round", "pick_distance"]
#: metrics of a round's evaluation that go into the round table and its MLflow run
ROUND_EVAL_METRICS = ("option_nll", "accuracy", "letter_mass", "test_response_loss")


def _round_finetune_params(params: dict[str, Any]) -> dict[str, Any]:
    """The per-round fine-tune recipe, seeded by ``diverseevol.seed`` (LoRA init and data order)."""
    recipe = params["round_finetune"]
    seed = int(params["seed"])
    return {"lora": {**recipe["lora"], "init_seed": seed}, "training": {**recipe["training"], "seed": seed}}


def _test_slice(target_test: list[dict], params: dict[str, Any]) -> tuple[list[dict], str]:
    """The fixed evaluation slice of every round (a seeded uniform sample in test order) and its metric prefix."""
    n = params.get("round_eval_questions")
    if n is None or n >= len(target_test):
        return target_test, f"round_test{len(target_test)}_"
    keep = np.sort(random_indices(len(target_test), int(n), int(params["seed"])))
    return [target_test[int(i)] for i in keep], f"round_test{int(n)}_"


def _finetune_round(
    base_model: CausalLM,
    pool: list[dict],
    table: pd.DataFrame,
    target_test: list[dict],
    params: dict[str, Any],
    evaluate: dict[str, Any],
    round_index: int,
    train: bool,
) -> tuple[dict, dict]:
    """Fine-tune the BASE model from scratch on the cumulative set (official ``train.py``: a fresh model per round);
    evaluate it on the fixed test slice when ``evaluate_every_round``."""
    summary: dict[str, Any] = {"round": round_index, "active": True, "size": len(table), "trained": train}
    if not train:
        return {}, summary
    recipe = _round_finetune_params(params)
    records = [pool[int(i)] for i in np.sort(table["pool_index"].to_numpy())]  # official: sorted by pool index
    bundle, training = finetune_lora(base_model, records, recipe)
    summary.update({k: v for k, v in training.items() if isinstance(v, (int, float))})
    if params["evaluate_every_round"]:
        questions, prefix = _test_slice(target_test, params)
        metrics, _, _ = evaluate_model(base_model, bundle, questions, recipe, evaluate)
        summary["evaluation"] = {prefix + k: float(metrics[k]) for k in ROUND_EVAL_METRICS if k in metrics}
    return bundle, summary


def _must_train(round_index: int, params: dict[str, Any]) -> bool:
    """M_r is needed to embed round r + 1, or to be evaluated; the last round's model is not used otherwise (the
    text track fine-tunes on the final set once per judge seed)."""
    return round_index < int(params["n_round"]) or bool(params["evaluate_every_round"])


def evolve_round_0(
    base_model: CausalLM,
    pool: list[dict],
    target_test: list[dict],
    params: DiverseEvolParams,
    selection: SelectionParams,
    evaluate: EvaluateParams,
) -> tuple[pd.DataFrame, dict, dict]:
    """Round 0: ``init_label_num`` pool items uniformly at random (seeded; official ``torch.randperm``, unseeded),
    then M_0 = the base model fine-tuned on them.

    Returns:
        (round-0 selection ``id, pool_index, round, pick_distance`` (NaN), adapter bundle, fine-tune summary).

    Raises:
        ValueError: the schedule does not add up to the shared budget (:func:`round_sizes`), before any model work.
    """
    sizes = round_sizes(selection_count(len(pool), selection), params)
    picks = random_indices(len(pool), sizes[0], int(params["seed"]))
    table = pd.DataFrame(
        {"id": [pool[int(i)]["id"] for i in picks], "pool_index": picks.astype(np.int64), "round": 0, "pick_distance": np.nan}
    )
    logger.info("diverseevol round 0: %d random examples; schedule %s", len(table), sizes)
    bundle, summary = _finetune_round(base_model, pool, table, target_test, params, evaluate, 0, _must_train(0, params))
    return table, bundle, summary


def evolve_round(
    base_model: CausalLM,
    pool: list[dict],
    previous_selection: pd.DataFrame,
    previous_adapter: dict,
    target_test: list[dict],
    params: DiverseEvolParams,
    selection: SelectionParams,
    evaluate: EvaluateParams,
    round_index: int = 1,
) -> tuple[pd.DataFrame, dict, dict, dict]:
    """Round r >= 1 (DiverseEvol Algorithm 1): embed the whole pool with M_{r-1} (mean of the last hidden states,
    :func:`data_selection.llm.embeddings.embed_records`), add the ``n_query`` points farthest from L_{r-1}
    (k-center greedy, Euclidean, :func:`data_selection.core.kcenter.kcenter_greedy`), re-fine-tune the base model
    on L_r. A round beyond ``n_round`` is skipped: it passes L_{r-1} on unchanged and trains nothing.

    Returns:
        (cumulative selection L_r, embedding summary, adapter bundle M_r (``{}`` when not trained), fine-tune summary).

    Raises:
        ValueError: the previous round left no adapter to embed with, or the schedule misses the budget.
    """
    from data_selection.llm.embeddings import embed_records

    if round_index > int(params["n_round"]):
        skipped = {"round": round_index, "active": False}
        return previous_selection, skipped, {}, skipped
    sizes = round_sizes(selection_count(len(pool), selection), params)
    if len(previous_selection) != sizes[round_index - 1]:
        raise ValueError(
            f"round {round_index - 1} holds {len(previous_selection)} examples, the schedule {sizes} expects "
            f"{sizes[round_index - 1]}: the saved rounds come from other parameters; delete them or run without "
            f"--only-missing-outputs"
        )
    adapter = previous_adapter.get("adapter")
    if not adapter:
        raise ValueError(f"round {round_index - 1} left no fine-tuned adapter to embed the pool with")
    recipe = _round_finetune_params(params)
    embeddings = embed_records(
        base_model, pool, int(params["embedding"]["max_length"]), int(params["embedding"]["batch_size"]),
        lora_params=recipe["lora"], adapter_state=adapter["tensors"],
    )
    before = previous_selection["pool_index"].to_numpy(dtype=np.int64)
    picks, gaps = kcenter_greedy(embeddings, sizes[round_index] - sizes[round_index - 1], selected=before, random_state=int(params["seed"]))
    added = pd.DataFrame(
        {"id": [pool[int(i)]["id"] for i in picks], "pool_index": picks, "round": round_index, "pick_distance": gaps}
    )
    table = pd.concat([previous_selection[ROUND_COLUMNS], added], ignore_index=True)
    norms = np.linalg.norm(embeddings, axis=1)
    embedding_summary = {
        "round": round_index, "active": True, "embedded_with": f"round_{round_index - 1}", "pool_size": len(pool),
        "dim": int(embeddings.shape[1]), "norm_mean": float(norms.mean()), "norm_std": float(norms.std()),
        "selected_before": int(len(before)), "added": int(len(picks)),
        "pick_distance_first": float(gaps[0]), "pick_distance_last": float(gaps[-1]),
    }
    logger.info("diverseevol round %d: +%d by k-center (gap %.4g -> %.4g), %d in all", round_index, len(picks), gaps[0], gaps[-1], len(table))
    bundle, summary = _finetune_round(
        base_model, pool, table, target_test, params, evaluate, round_index, _must_train(round_index, params)
    )
    return table, embedding_summary, bundle, summary


def for_round(round_index: int):
    """:func:`evolve_round` with ``round_index`` bound (a plain function, so Kedro still reads its signature/hints)."""

    @wraps(evolve_round)
    def bound(*args, **kwargs):
        return evolve_round(*args, round_index=round_index, **kwargs)

    return bound


def final_selection(last_round: pd.DataFrame, pool: list[dict], selection: SelectionParams) -> pd.DataFrame:
    """The method's public selection: L_{n_round} in the order the examples were added.

    Returns:
        ``id, rank, score`` (score NaN: DiverseEvol picks a set, it does not score) + ``round, pick_distance``.

    Raises:
        ValueError: the final set differs from the shared budget.
    """
    count = selection_count(len(pool), selection)
    if len(last_round) != count:
        raise ValueError(f"diverseevol's final set has {len(last_round)} examples; the shared budget is {count}")
    return pd.DataFrame(
        {
            "id": last_round["id"].astype(str).to_numpy(),
            "rank": np.arange(1, count + 1, dtype=np.int64),
            "score": np.full(count, np.nan),
            "round": last_round["round"].to_numpy(dtype=np.int64),
            "pick_distance": last_round["pick_distance"].to_numpy(dtype=np.float64),
        }
    )


def vendi_text(record: dict) -> str:
    """The text the fixed embedder reads: every message's content, blank-line separated (the official analysis
    embeds the Alpaca prompt with the output appended)."""
    return "\n\n".join(m["content"] for m in record["messages"])


def _log_round_run(round_index: int, metrics: dict[str, float]) -> None:
    """One nested MLflow run per round under the pipeline's run, when MLflow tracking is on."""
    import mlflow

    parent = mlflow.active_run()
    if parent is None:
        return
    commit = mlflow.MlflowClient().get_run(parent.info.run_id).data.tags.get("git_commit", "unknown")
    with mlflow.start_run(run_name=f"diverseevol/round_{round_index}", nested=True):
        mlflow.set_tags({"method": "diverseevol", "round": str(round_index), "git_commit": commit})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})


def report_rounds(pool: list[dict], sentence_embedder, params: DiverseEvolParams, *round_outputs) -> tuple[pd.DataFrame, Any, dict]:
    """Vendi score (cosine kernel on the fixed embedder) of every round's cumulative set, beside the mean and std of
    ``vendi.random_draws`` uniform random sets of the same size; one nested MLflow run per round.

    Args:
        pool: the pool records.
        sentence_embedder: the shared ``sentence_embedder`` (a sentence-transformers model, ``encode(texts) -> (n, d)``),
            the same for every round; rows are not normalised here (the cosine kernel does it).
        params: ``diverseevol`` parameters.
        round_outputs: for rounds 0..MAX_ROUNDS in order, ``(selection, finetune_summary)`` flattened.

    Returns:
        (one row per active round: ``round, size, vendi, random_vendi_mean, random_vendi_std, train_loss`` and the
        round evaluation's metrics; the Vendi-vs-round figure; the per-round metrics for the parent MLflow run).
    """
    texts = [vendi_text(r) for r in pool]
    embeddings = encode_texts(sentence_embedder, texts, int(params["vendi"]["batch_size"]), normalize=False, progress=False)
    embeddings = embeddings.astype(np.float64)
    rows = []
    for r in range(len(round_outputs) // 2):
        table, summary = round_outputs[2 * r], round_outputs[2 * r + 1]
        if r > int(params["n_round"]):
            break
        size = len(table)
        randoms = [
            vendi_score(embeddings[np.random.default_rng([int(params["seed"]), r, d]).choice(len(pool), size, replace=False)])
            for d in range(int(params["vendi"]["random_draws"]))
        ]
        row = {
            "round": r, "size": size, "vendi": vendi_score(embeddings[table["pool_index"].to_numpy(dtype=np.int64)]),
            "random_vendi_mean": float(np.mean(randoms)), "random_vendi_std": float(np.std(randoms)),
            "train_loss": summary.get("train_loss", np.nan), **summary.get("evaluation", {}),
        }
        rows.append(row)
        _log_round_run(r, {k: v for k, v in row.items() if k != "round"})
    frame = pd.DataFrame(rows)
    history = {
        (name if name.startswith("round_") else f"round_{name}"): [
            {"value": float(v), "step": int(r)} for r, v in zip(frame["round"], frame[name]) if np.isfinite(v)
        ]
        for name in frame.columns if name not in ("round",)
    }
    return frame, rounds_plot(frame), {k: v for k, v in history.items() if v}


def rounds_plot(frame: pd.DataFrame):
    """Vendi vs round (DiverseEvol and random sets of the same sizes, mean +- std); the round metric when evaluated."""
    evaluated = [c for c in frame.columns if c.startswith("round_test") and c.endswith("option_nll")]
    fig, axes = plt.subplots(1, 1 + bool(evaluated), figsize=(6 + 5 * bool(evaluated), 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(frame["round"], frame["vendi"], marker="o", label="DiverseEvol (k-center)")
    ax.errorbar(frame["round"], frame["random_vendi_mean"], yerr=frame["random_vendi_std"], linestyle="--", marker="s",
                capsize=3, label="random, same size (mean +- std)")
    ax.set_xlabel("round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Vendi score (fixed embedder)")
    ax.set_title("diversity of the cumulative set per round")
    ax.legend(fontsize=8)
    if evaluated:
        ax2 = axes[0, 1]
        ax2.plot(frame["round"], frame[evaluated[0]], marker="o")
        ax2.set_xlabel("round")
        ax2.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax2.set_ylabel(f"{evaluated[0]} (lower is better)")
        ax2.set_title("round model on the fixed test slice")
    fig.tight_layout()
    return fig
