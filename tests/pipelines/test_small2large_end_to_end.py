"""`kedro run --pipeline=small2large --env test` on the packaged SmolLM2 (selector and, in conf/test, target) and
all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pandas as pd
import pytest

from tests.conftest import run_pipeline_in_copy
from tests.pipelines import e2e_checks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s2l_run(tmp_path_factory):
    return run_pipeline_in_copy(tmp_path_factory.mktemp("project"), "small2large")


def test_perplexity_table_is_keyed_by_example_id_and_p0_is_the_untouched_selector(s2l_run):
    import torch

    from data_selection.llm.models import load_causal_lm
    from data_selection.llm.training import encode_records

    pool = e2e_checks.read_jsonl(s2l_run / "data/03_primary/pool.jsonl")
    ppl = pd.read_parquet(s2l_run / "data/04_feature/small2large/perplexities.parquet")
    assert ppl["id"].tolist() == [r["id"] for r in pool]
    assert ppl.columns.tolist() == ["id", "p0", "p1", "p2"]  # conf/test: 2 selector epochs
    assert (ppl[["p0", "p1", "p2"]].to_numpy() >= 1).all()
    # P0, one example at a time, from log-softmax by hand on the selector as loaded from the cache
    lm = load_causal_lm(str(s2l_run / "data/06_models/base/smollm2-135m-instruct"))
    encoded, _ = encode_records(lm.tokenizer, pool[:4], 48)
    for row, e in enumerate(encoded):
        with torch.no_grad():
            logp = torch.log_softmax(lm.model(input_ids=torch.tensor([e["input_ids"]])).logits[0].double(), dim=-1)
        nll = [-float(logp[t - 1, tok]) for t, (tok, lab) in enumerate(zip(e["input_ids"], e["labels"])) if t and lab != -100]
        assert ppl["p0"].iloc[row] == pytest.approx(math.exp(sum(nll) / len(nll)), rel=1e-4)
    summary = json.loads((s2l_run / "data/08_reporting/small2large/selector_summary.json").read_text())
    assert summary["finetune"] == "lora" and summary["epochs"] == 2  # conf/test: as the CPU default
    assert 0 < summary["trainable_parameters"] < sum(p.numel() for p in lm.model.parameters()) / 100
    assert ppl["p2"].mean() < ppl["p0"].mean()  # the selector learned the pool


def test_selection_is_the_lowest_lp_of_every_cluster(s2l_run):
    clusters = pd.read_parquet(s2l_run / "data/04_feature/small2large/clusters.parquet")
    ppl = pd.read_parquet(s2l_run / "data/04_feature/small2large/perplexities.parquet")
    assert clusters["cluster"].nunique() == 3  # conf/test: num_clusters 3
    p0, p1, last = (ppl[c].to_numpy() for c in ("p0", "p1", "p2"))
    lp = np.where(p0 == last, 0.0, (p0 - p1) / np.where(p0 == last, 1.0, p0 - last))
    selection = e2e_checks.check_selection_and_verbatim_records(s2l_run, "small2large", budget=4)
    assert len(selection) == 4  # exact rounding: 25 % of 16
    np.testing.assert_allclose(selection["score"], lp[[ppl["id"].tolist().index(i) for i in selection["id"]]])
    labels = clusters["cluster"].to_numpy()
    for cluster, group in selection.groupby("cluster"):
        members = sorted(np.flatnonzero(labels == cluster), key=lambda i: (lp[i], i))
        assert group["id"].tolist() == [ppl["id"].iloc[i] for i in members[: len(group)]]
    table = pd.read_csv(s2l_run / "data/07_model_output/small2large/lp_table.csv")
    assert set(table.loc[table["selected"], "id"]) == set(selection["id"])
    summary = json.loads((s2l_run / "data/08_reporting/small2large/lp_summary.json").read_text())
    assert sum(summary["status_counts"]["lp1"].values()) == 16 and summary["selected"] == 4


def test_mlflow_run_has_the_same_metrics_as_less(s2l_run):
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=s2l_run, capture_output=True, text=True).stdout.strip()
    run = e2e_checks.check_metrics_predictions_and_mlflow(s2l_run, "small2large", commit, seeds=["0"])
    assert run.data.params["small2large.variant"] == "lp1"
