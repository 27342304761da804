"""`kedro run --pipeline=diverseevol --env test` through a KedroSession, on the real packaged model, data and MiniLM.

Checks what a user gets: the final selection at the shared budget (verbatim records), one MLflow parent run with a
nested run per round (size, Vendi, random's Vendi) and per judge seed, the per-round partitions and the Vendi plot.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import git_commit_all, make_project_copy, run_in_session
from tests.pipelines import e2e_checks

pytestmark = pytest.mark.slow

SIZES = [2, 3, 4]  # conf/test: 2 random + 2 rounds x 1 = 4 = 0.25 of the 16-example pool


@pytest.fixture(scope="module")
def diverseevol_run(tmp_path_factory):
    root = make_project_copy(tmp_path_factory.mktemp("project"))
    commit = git_commit_all(root)
    run_in_session(root, "diverseevol")
    return root, commit


def test_final_selection_is_the_last_round_at_the_budget(diverseevol_run):
    root, _ = diverseevol_run
    selection = e2e_checks.check_selection_and_verbatim_records(root, "diverseevol", budget=SIZES[-1])
    assert len(selection) == SIZES[-1] and selection["score"].isna().all()
    rounds = [pd.read_csv(root / f"data/07_model_output/diverseevol/rounds/round_{r}/selection.csv") for r in range(3)]
    assert [len(t) for t in rounds] == SIZES
    for before, after in zip(rounds, rounds[1:]):  # cumulative: each round keeps the previous set and adds to it
        assert after["id"].tolist()[: len(before)] == before["id"].tolist()
    assert selection["id"].tolist() == rounds[-1]["id"].tolist()
    assert selection["round"].tolist() == [0, 0, 1, 2]
    for r in (1, 2):
        summary = json.loads((root / f"data/04_feature/diverseevol/rounds/round_{r}/embedding_summary.json").read_text())
        assert summary["embedded_with"] == f"round_{r - 1}" and summary["dim"] == 576  # SmolLM2-135M hidden size
        assert summary["pick_distance_first"] == pytest.approx(rounds[r]["pick_distance"].iloc[-1])
    assert (root / "data/06_models/diverseevol/rounds/round_1/adapter/adapter/tensors.safetensors").exists()
    assert (root / "data/08_reporting/diverseevol/vendi_per_round.png").stat().st_size > 0


def test_mlflow_has_a_nested_run_per_round_and_per_seed(diverseevol_run):
    from mlflow.tracking import MlflowClient

    root, commit = diverseevol_run
    table = pd.read_csv(root / "data/08_reporting/diverseevol/round_metrics.csv")
    assert table["size"].tolist() == SIZES
    assert ((table["vendi"] >= 1 - 1e-9) & (table["vendi"] <= table["size"] + 1e-9)).all()
    client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("data-selection").experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.run_name == "diverseevol" and parents[0].info.status == "FINISHED"
    nested = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id}
    assert set(nested) == {"diverseevol/round_0", "diverseevol/round_1", "diverseevol/round_2", "diverseevol/seed_0"}
    for r, row in table.iterrows():
        run = nested[f"diverseevol/round_{r}"]
        assert run.data.metrics["size"] == SIZES[r]
        assert run.data.metrics["vendi"] == pytest.approx(row["vendi"])
        assert run.data.metrics["random_vendi_mean"] == pytest.approx(row["random_vendi_mean"])
        assert run.data.tags["git_commit"] == commit
    artifacts = {a.path for a in client.list_artifacts(parents[0].info.run_id, "plots")}
    assert "plots/vendi_per_round.png" in artifacts
    metrics = json.loads((root / "data/08_reporting/diverseevol/evaluation_metrics.json").read_text())
    assert metrics["seeds"] == ["0"] and np.isfinite(metrics["mean"]["option_nll"])
