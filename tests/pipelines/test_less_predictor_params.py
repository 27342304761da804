"""``less_predictor`` parameters: every environment validates; typos and impossible values are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data_selection.pipelines.less_predictor.parameters import LessPredictorParams


def _parameters(env: str) -> dict:
    """The project's parameters as ``kedro run --env <env>`` loads them (``local``: conf/base alone)."""
    from kedro.config import OmegaConfigLoader

    from data_selection.config import package_path
    from tests.conftest import PROJECT_ROOT

    return OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env, custom_resolvers={"pkg": package_path}
    )["parameters"]


@pytest.mark.parametrize("env", ["local", "test", "gpu", "pool1000"])
def test_every_environment_validates(env):
    from data_selection.pipelines.less.parameters import LessParams

    params = _parameters(env)
    LessPredictorParams.model_validate(params["less_predictor"])
    LessParams.model_validate(params["less"])
    if env == "pool1000":  # the predictor's pool, shared by every method of that environment
        assert params["data_prep"]["pool"]["size"] == 1000
        base = _parameters("local")["data_prep"]
        base["pool"]["size"] = 1000  # everything else (mixture, targets) is base's: same target, same sources
        assert params["data_prep"] == base


def _validation_questions(targets: dict) -> int:
    """The target's validation questions from ``data_prep.targets``: MMLU's 57 subjects x per subject + BBH's tasks x
    per task (the numbers of conf/base: 57 + 12 = 69, as the runs log)."""
    mmlu_subjects = 57 if targets["mmlu"]["subjects"] is None else len(targets["mmlu"]["subjects"])
    return mmlu_subjects * targets["mmlu"]["validation_per_subtask"] + len(targets["bbh"]["tasks"]) * targets["bbh"]["validation_per_subtask"]


@pytest.mark.parametrize("env, cap", [("local", 0.5), ("pool1000", 0.3)])
def test_the_default_runs_fit_their_gradient_cap(env, cap):
    """`kedro run --pipeline=less_predictor` (pool 200) and `--env pool1000` must not stop at split_pool's cap check:
    base once stopped there (30 training points + 69 validation questions = 36.8 % of full LESS's gradients > 30 %)."""
    from data_selection.core.influence_predictor import candidate_cap, split_training_points

    params = _parameters(env)
    predictor, pool = params["less_predictor"], params["data_prep"]["pool"]["size"]
    validation = _validation_questions(params["data_prep"]["targets"])
    assert validation == 69 and predictor["max_gradient_fraction"] == cap
    training, _ = split_training_points(pool, predictor["train_fraction"], predictor["split_seed"])
    candidates = candidate_cap(pool, len(training), validation, cap)  # raises where the defaults cannot run
    assert candidates > 0  # room for step 6, not only the training points


def test_pool1000_predictor_block_is_bases_with_the_30_percent_cap():
    base, pool1000 = _parameters("local")["less_predictor"], _parameters("pool1000")["less_predictor"]
    assert base["max_gradient_fraction"] == 0.5 and pool1000["max_gradient_fraction"] == 0.3
    assert dict(pool1000, max_gradient_fraction=0.5) == base  # nothing else drifts between the two copies


def test_split_pool_warns_on_a_pool_too_small_for_a_predictor(caplog):
    import logging

    from data_selection.pipelines.less_predictor.nodes import MIN_PREDICTOR_POOL, split_pool

    params = {"train_fraction": 0.2, "split_seed": 0, "max_gradient_fraction": 1.0}
    pool = [{"id": f"e{i}"} for i in range(50)]
    with caplog.at_level(logging.WARNING, logger="data_selection.pipelines.less_predictor.nodes"):
        training, table = split_pool(pool, [{"id": "v"}], params)
    assert len(training) == 10 and MIN_PREDICTOR_POOL == 1000
    assert any("a pool of 50 gives the predictor 10 training points" in r.getMessage() for r in caplog.records)
    caplog.clear()
    big = [{"id": f"e{i}"} for i in range(MIN_PREDICTOR_POOL)]
    with caplog.at_level(logging.WARNING, logger="data_selection.pipelines.less_predictor.nodes"):
        split_pool(big, [{"id": "v"}], params)
    assert not caplog.records


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"train_fraction": 1.0}, "less than 1"),
        ({"n_levels": 1}, "greater than or equal to 2"),
        ({"regressor": "svr"}, "ridge"),
        ({"selection_mode": "top"}, "candidates"),
        ({"train_fracton": 0.2}, "Extra inputs"),
    ],
)
def test_schema_rejects(raw, message):
    with pytest.raises(ValidationError, match=message):
        LessPredictorParams.model_validate(raw)
