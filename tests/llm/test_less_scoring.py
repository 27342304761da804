"""``score_influence`` on hand-made features: per-target aggregation and per-checkpoint LR weights.

No model: the features are chosen so that the influence matrix (Σ_i η_i ⟨pool_i, val_i⟩) is known by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pandas")

from data_selection.pipelines.less.nodes import check_less_params, score_influence  # noqa: E402
from tests.core.test_less_math import (  # noqa: E402
    TWELVE_LRS,
    TWO_TASK_EXPECTED,
    TWO_TASK_INFLUENCE,
    TWO_TASK_SUBTASKS,
)

POOL = [{"id": f"p{i}", "source": "alpaca_gpt4_demo", "subtask": None} for i in range(3)]
VALIDATION = [
    {"task": s.split("/")[0], "subtask": s.split("/")[1], "id": f"v{i}"} for i, s in enumerate(TWO_TASK_SUBTASKS)
]
PARAMS = {"aggregation": "subtask_mean_max"}


def _one_checkpoint():
    # pool features = influence rows, validation features = identity: <pool_p, val_v> = influence[p, v]
    pool = {"epoch_1": TWO_TASK_INFLUENCE.astype(np.float32)}
    val = {"epoch_1": np.eye(5, dtype=np.float32)}
    summary = {"checkpoints": {"epoch_1": {"epoch": 1, "step": 3, "mean_lr": 1e-4}}}
    return pool, val, summary


@pytest.mark.parametrize("target", ["mmlu", "bbh", "joint"])
def test_score_influence_per_target(target):
    pool, val, summary = _one_checkpoint()
    table = score_influence(POOL, pool, val, summary, VALIDATION, {**PARAMS, "target_task": target})
    np.testing.assert_allclose(table["score"].to_numpy(), TWO_TASK_EXPECTED[target])
    assert list(table["id"]) == ["p0", "p1", "p2"]  # one row per pool example, pool order
    assert set(table["target_task"]) == {target}
    if target != "joint":
        assert all(b.startswith(f"{target}/") for b in table["best_subtask"])


def test_score_influence_default_target_is_mmlu():
    pool, val, summary = _one_checkpoint()
    table = score_influence(POOL, pool, val, summary, VALIDATION, PARAMS)
    np.testing.assert_allclose(table["score"].to_numpy(), TWO_TASK_EXPECTED["mmlu"])
    # the shared select stage ranks them: hand-computed order p1, p0, p2
    from data_selection.pipelines.select.nodes import select_top_k

    selection = select_top_k(table, {"max_samples": 3, "budget_fraction": None})
    assert selection["id"].tolist() == ["p1", "p0", "p2"]


def test_score_influence_target_without_questions_raises():
    pool, val, summary = _one_checkpoint()
    only_mmlu = [dict(r, task="mmlu") for r in VALIDATION]
    with pytest.raises(ValueError, match="'bbh' has no validation questions"):
        score_influence(POOL, pool, val, summary, only_mmlu, {**PARAMS, "target_task": "bbh"})


def test_score_influence_weights_twelve_checkpoints_by_their_own_lr():
    # checkpoint e: pool feature [1], validation feature [e] -> influence = Σ_e lr_e * e / Σ lr
    names = [f"epoch_{e}" for e in range(1, 13)]
    pool = {n: np.ones((1, 1), dtype=np.float32) for n in sorted(names)}  # text order on purpose
    val = {f"epoch_{e}": np.full((1, 1), float(e), dtype=np.float32) for e in range(12, 0, -1)}
    summary = {"checkpoints": {f"epoch_{e}": {"epoch": e, "mean_lr": TWELVE_LRS[e]} for e in (5, 12, 1, 10, 2, 3, 4, 6, 7, 8, 9, 11)}}
    rows = [{"task": "mmlu", "subtask": "astronomy"}]
    table = score_influence(POOL[:1], pool, val, summary, rows, PARAMS)
    total = sum(TWELVE_LRS.values())
    expected = sum(TWELVE_LRS[e] * e for e in range(1, 13)) / total
    assert table["score"].iloc[0] == pytest.approx(expected, rel=1e-9)
    # the bug this guards against: learning rates listed by epoch, paired with names sorted as text
    text_order = sorted(names)
    wrong = sum(TWELVE_LRS[k + 1] * int(text_order[k].split("_")[1]) for k in range(12)) / total
    assert abs(wrong - expected) > 1e-3


def test_score_influence_rejects_mismatched_checkpoints():
    pool, val, summary = _one_checkpoint()
    summary["checkpoints"]["epoch_2"] = {"epoch": 2, "mean_lr": 1e-4}
    with pytest.raises(ValueError, match="differ"):
        score_influence(POOL, pool, val, summary, VALIDATION, PARAMS)
    with pytest.raises(ValueError, match="rerun warmup_lora"):
        score_influence(POOL, pool, val, {"checkpoint_mean_lrs": [1.0]}, VALIDATION, PARAMS)
    pool, val, summary = _one_checkpoint()
    with pytest.raises(ValueError, match="validation feature rows"):
        score_influence(POOL, pool, val, summary, VALIDATION[:4], PARAMS)


def test_check_less_params_defaults_and_errors():
    assert check_less_params({}) == {
        "target_task": "mmlu",
        "prompt_format": "tulu",
        "validation_labels": "answer_letter",
        "bbh_shots": 2,
    }
    for key, bad, message in [
        ("target_task", "tydiqa", "target_task"),
        ("prompt_format", "alpaca", "prompt_format"),
        ("validation_labels", "letters", "validation_labels"),
        ("bbh_shots", -1, "bbh_shots"),
        ("bbh_shots", True, "bbh_shots"),
    ]:
        with pytest.raises(ValueError, match=message):
            check_less_params({key: bad})


@pytest.mark.parametrize("target", ["mmlu", "bbh", "joint"])
def test_less_predictor_real_influence_shares_the_hand_computed_influence(target):
    # less_predictor's real influence goes through the same target_influence as score_influence
    from data_selection.pipelines.less_predictor.nodes import real_influence

    pool, val, summary = _one_checkpoint()
    table = real_influence(POOL, pool, val, summary, VALIDATION, {**PARAMS, "target_task": target})
    np.testing.assert_allclose(table["subtask_mean_max"].to_numpy(), TWO_TASK_EXPECTED[target])
    with pytest.raises(ValueError, match="feature rows for 2 examples"):
        real_influence(POOL[:2], pool, val, summary, VALIDATION, {**PARAMS, "target_task": target})
