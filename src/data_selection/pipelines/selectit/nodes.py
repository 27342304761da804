"""SelectIT nodes (Liu et al., NeurIPS 2024): rating probabilities per model, three reflection levels, scores.

The math is in :mod:`data_selection.core.selectit`; the model code in :mod:`data_selection.llm.rating`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from data_selection.core import selectit as sit  # noqa: E402
from data_selection.core.selection import top_k_indices  # noqa: E402
from data_selection.core.shards import ShardStore  # noqa: E402
from data_selection.llm.models import CausalLM  # noqa: E402
from data_selection.llm.rating import OFFICIAL_SEPARATOR, RatingScorer, truncation_report  # noqa: E402
from data_selection.pipelines.select.nodes import scores_table, selection_count  # noqa: E402
from data_selection.pipelines.selectit.parameters import SelectITParams  # noqa: E402

logger = logging.getLogger(__name__)

LEVELS = ("token", "sentence", "model")


def instruction_response(record: dict) -> tuple[str, str]:
    """(instruction, response) of a pool record: all turns before the last as the instruction, the last
    (assistant) turn as the response. Alpaca's ``input`` is already part of the user turn (``data_prep``)."""
    messages = record["messages"]
    instruction = "\n".join(m["content"] for m in messages[:-1] if m["role"] != "system")
    return instruction, messages[-1]["content"]


def rating_fingerprint(model: CausalLM, pairs: list[tuple[str, str]], params: dict[str, Any]) -> str:
    """A hash of what the rating pass depends on: the model's weights and name, the rating prompts and settings, and
    every (instruction, response) text. Shards stored under another fingerprint are never reused."""
    digest = hashlib.sha256()
    keys = ("rating_levels", "num_prompts", "max_length", "truncate_instruction", "min_instruction_tokens",
            "prompt_separator", "prompts")
    digest.update(json.dumps([model.name, {k: params.get(k) for k in keys}], sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    for instruction, response in pairs:
        digest.update(json.dumps([instruction, response]).encode())
    return digest.hexdigest()


def _rate_shard(scorer: RatingScorer, pairs: list[tuple[str, str]], prompts: list[str], batch_size: int, name: str) -> dict:
    """The K prompts' results for one shard of examples, as arrays with one row per example: ``probabilities``
    (n, K, L), ``failed`` (n, K) bool, ``reason`` (n, K) str and the token counts (n, K) int64."""
    fields = ("prompt_tokens", "instruction_tokens", "response_tokens", "instruction_cut", "response_cut")
    out: dict[str, list] = {"probabilities": [], "failed": [], "reason": [], **{f: [] for f in fields}}
    for k, prompt in enumerate(prompts):
        result = scorer.probabilities(prompt, pairs, batch_size=batch_size, desc=f"{name} prompt {k + 1}")
        out["probabilities"].append(result.probabilities)
        out["failed"].append(np.array([i in result.failures for i in range(len(pairs))], dtype=bool))
        out["reason"].append(np.array([result.failures.get(i, "") for i in range(len(pairs))], dtype=str))
        for f in fields:
            out[f].append(np.asarray(getattr(result, f), dtype=np.int64))
    return {key: np.stack(values, axis=1) for key, values in out.items()}


def rating_probabilities(model: CausalLM, pool: list[dict], rating_shards: ShardStore, params: SelectITParams) -> pd.DataFrame:
    """Probabilities of the rating tokens "1".."L" for every pool example under each of the K prompts.

    Computed in shards (``selectit.sharding``): ``shard_size`` examples per file of ``rating_shards``, by the
    ``local`` or ``ray`` executor (:func:`data_selection.executors.run_shards`); a rerun after a kill rates only the
    missing shards, and shards of other inputs (:func:`rating_fingerprint`) are deleted, never reused.

    Prompts longer than ``params.max_length`` tokens are cut in the instruction first
    (``truncate_instruction``: ``middle`` | ``end``), the response keeps its beginning and is never dropped
    (:class:`~data_selection.llm.rating.RatingScorer`); a per-prompt summary of the cuts
    (:func:`~data_selection.llm.rating.truncation_report`) is logged.

    Returns:
        a long table keyed by example id (N·K rows): ``id, prompt_index, p_1..p_L`` (float64), ``status``
        (``ok`` | ``failed``), ``reason``, ``prompt_tokens`` (length of the prompt scored),
        ``instruction_tokens``, ``response_tokens`` (untruncated lengths), ``instruction_tokens_cut``,
        ``response_tokens_cut`` (tokens removed; int64), ``model``, ``model_parameters``. Failed rows have
        NaN probabilities.
    """
    from data_selection.executors import run_shards

    pairs = [instruction_response(r) for r in pool]
    ids = [r["id"] for r in pool]
    prompts = list(params["prompts"][: int(params["num_prompts"])])
    sharding = params.get("sharding") or {"shard_size": 64, "executor": "local", "ray": {}}
    rating_shards.bind(rating_fingerprint(model, pairs, params))

    def make_compute():
        scorer = RatingScorer(
            model.model,
            model.tokenizer,
            int(params["max_length"]),
            int(params["rating_levels"]),
            truncate_instruction=params.get("truncate_instruction", "middle"),
            min_instruction_tokens=int(params.get("min_instruction_tokens", 32)),
            separator=params.get("prompt_separator", OFFICIAL_SEPARATOR),
        )
        return lambda start, stop: _rate_shard(scorer, pairs[start:stop], prompts, int(params["batch_size"]), model.name)

    arrays, _ = run_shards(rating_shards, ids, int(sharding["shard_size"]), make_compute, sharding["executor"],
                                sharding.get("ray"), description=f"SelectIT ratings ({model.name})")
    frames = []
    for k in range(len(prompts)):
        probabilities = arrays["probabilities"][:, k]
        frame = pd.DataFrame(probabilities, columns=[f"p_{i + 1}" for i in range(probabilities.shape[1])])
        frame.insert(0, "prompt_index", k)
        frame.insert(0, "id", ids)
        frame["status"] = np.where(arrays["failed"][:, k], "failed", "ok")
        frame["reason"] = arrays["reason"][:, k].astype(str)
        frame["prompt_tokens"] = arrays["prompt_tokens"][:, k]
        frame["instruction_tokens"] = arrays["instruction_tokens"][:, k]
        frame["response_tokens"] = arrays["response_tokens"][:, k]
        frame["instruction_tokens_cut"] = arrays["instruction_cut"][:, k]
        frame["response_tokens_cut"] = arrays["response_cut"][:, k]
        cut = truncation_report(arrays["instruction_cut"][:, k], arrays["response_cut"][:, k],
                                arrays["instruction_tokens"][:, k], arrays["response_tokens"][:, k])
        if cut["truncated"]:
            logger.warning(
                "%s prompt %d: %d of %d rating prompts cut to max_length=%s (%s instruction, %d tokens; %d response, "
                "%d tokens, from its end)", model.name, k, cut["truncated"], len(pairs), params["max_length"],
                cut["instruction_truncated"], cut["instruction_tokens_removed"], cut["response_truncated"],
                cut["response_tokens_removed"],
            )
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["model"] = model.name
    table["model_parameters"] = model.num_parameters
    return table


def _probability_cube(table: pd.DataFrame, ids: list[str], k: int, levels: int) -> np.ndarray:
    """(N, K, L) probabilities aligned to ``ids`` by id (never by row order)."""
    cube = np.full((len(ids), k, levels), np.nan)
    position = {example_id: i for i, example_id in enumerate(ids)}
    columns = [f"p_{i + 1}" for i in range(levels)]
    for row in table.itertuples(index=False):
        i = position.get(row.id)
        if i is None:
            raise ValueError(f"rating table has an id {row.id!r} that is not in the pool: rerun the rating node")
        cube[i, int(row.prompt_index)] = [getattr(row, c) for c in columns]
    return cube


def score_levels(pool: list[dict], probabilities_a: pd.DataFrame, probabilities_b: pd.DataFrame, params: dict[str, Any]):
    """Token-, sentence- and model-level scores for every pool example, keyed by id.

    Returns:
        (table ``id, token_<m>, sentence_<m> for each model m, token, sentence, model``, failure report).
        The three comparison columns follow the paper's progression: ``token`` is the first (base) model's
        score under one prompt (Eq. 2), ``sentence`` the same model over K prompts (Eq. 3), ``model`` the
        weighted combination over models (Eq. 4).

    Raises:
        ValueError: an example could not be scored and ``on_failure`` is ``error`` (names its id and reason).
    """
    ids = [r["id"] for r in pool]
    k, levels = int(params["num_prompts"]), int(params["rating_levels"])
    tables = [probabilities_a, probabilities_b]
    failures = []
    for table in tables:
        bad = table[table["status"] != "ok"]
        failures += [{"id": r.id, "model": r.model, "prompt_index": int(r.prompt_index), "reason": r.reason} for r in bad.itertuples()]
    if failures and params.get("on_failure", "error") == "error":
        first = failures[0]
        raise ValueError(
            f"{len(failures)} rating prompt(s) could not be scored, e.g. example {first['id']} with {first['model']}: "
            f"{first['reason']} (set selectit.on_failure: skip to rank them last and report them)"
        )
    names = [str(t["model"].iloc[0]) for t in tables]
    counts = [float(t["model_parameters"].iloc[0]) for t in tables]
    weights = sit.model_weights(counts, params["weighting"])
    out = pd.DataFrame({"id": ids})
    sentence_rows = []
    for name, table in zip(names, tables):
        token = sit.token_level_score(_probability_cube(table, ids, k, levels), params["normalisation"])  # (N, K)
        sentence = sit.sentence_level_score(token, float(params["alpha"]))
        out[f"token_{name}"] = token[:, int(params["token_level_prompt"])]
        out[f"sentence_{name}"] = sentence
        sentence_rows.append(sentence)
    out["token"] = out[f"token_{names[0]}"]
    out["sentence"] = out[f"sentence_{names[0]}"]
    out["model"] = sit.model_level_score(np.vstack(sentence_rows), weights)
    logger.info("SelectIT model weights (%s): %s", params["weighting"], dict(zip(names, np.round(weights, 4))))
    return out, failures


def truncation_summary(probabilities_a: pd.DataFrame, probabilities_b: pd.DataFrame) -> dict[str, dict]:
    """How many rating prompts each model had to cut, and by how much (instruction first, then response)."""
    return {
        str(t["model"].iloc[0]): truncation_report(
            t["instruction_tokens_cut"], t["response_tokens_cut"], t["instruction_tokens"], t["response_tokens"]
        )
        for t in (probabilities_a, probabilities_b)
    }


def level_scores_to_scores(pool: list[dict], level_scores: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The scores table of the chosen reflection level (``selectit.level``, default ``model``), with every level's
    score beside it (columns ``token``, ``sentence``, ``model``) so the shared select stage keeps them.

    Raises:
        ValueError: the level scores do not match the pool (ids differ).
    """
    if list(level_scores["id"]) != [r["id"] for r in pool]:
        raise ValueError("level scores do not match the pool (ids differ): rerun score_levels")
    level = params.get("level", "model")
    extra = {lv: level_scores[lv].to_numpy() for lv in LEVELS}
    return scores_table(pool, level_scores[level].to_numpy(), extra)


def level_overlap(level_scores: pd.DataFrame, selection: dict[str, Any]) -> dict[str, float]:
    """Jaccard overlap of the top-budget sets chosen by each pair of levels (how much the level matters)."""
    count = selection_count(len(level_scores), selection)
    tops = {lv: set(top_k_indices(level_scores[lv].to_numpy(), count).tolist()) for lv in LEVELS}
    return {f"{a}_vs_{b}": len(tops[a] & tops[b]) / len(tops[a] | tops[b]) for i, a in enumerate(LEVELS) for b in LEVELS[i + 1 :]}


def level_comparison_plot(level_scores: pd.DataFrame, selection: dict[str, Any]):
    """Distributions of the three levels (left) and the Jaccard overlap of their top-budget sets (right)."""
    count = selection_count(len(level_scores), selection)
    tops = {lv: set(top_k_indices(level_scores[lv].to_numpy(), count).tolist()) for lv in LEVELS}
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for level in LEVELS:
        values = level_scores[level].to_numpy()
        left.hist(values[np.isfinite(values)], bins=30, alpha=0.5, label=level)
    left.set_xlabel("score")
    left.set_ylabel("pool examples")
    left.set_title("score distribution per reflection level")
    left.legend()
    matrix = np.array([[len(tops[a] & tops[b]) / len(tops[a] | tops[b]) for b in LEVELS] for a in LEVELS])
    image = right.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    right.set_xticks(range(3), LEVELS)
    right.set_yticks(range(3), LEVELS)
    for i in range(3):
        for j in range(3):
            right.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", color="white" if matrix[i, j] < 0.6 else "black")
    right.set_title("Jaccard overlap of top sets")
    fig.colorbar(image, ax=right)
    fig.tight_layout()
    return fig
