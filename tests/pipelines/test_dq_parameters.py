"""dq_text's parameter schema: every environment's file validates; typos and impossible values fail up front; the
budget and bin checks run before the embedding model is loaded."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from data_selection.pipelines.dq.nodes import check_bins_and_budget, check_image_bins_and_budget
from data_selection.pipelines.dq.parameters import DQTextParams

BINS = {"n_bins": 10, "lam": 1.0, "similarity": "dot", "per_class": False, "remainder": "unbinned", "dtype": "float32"}


@pytest.mark.parametrize("env", ["local", "test", "gpu"])
def test_every_environment_validates(env):
    from kedro.config import OmegaConfigLoader

    from data_selection.config import package_path
    from tests.conftest import PROJECT_ROOT

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env,
                               custom_resolvers={"pkg": package_path})
    params = DQTextParams.model_validate(loader["parameters"]["dq_text"])
    assert params["bins"]["lam"] == 1.0 and params["features"]["batch_size"]  # the embedder itself is the catalog entry sentence_embedder


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bins": {**BINS, "n_bins": 0}}, "n_bins"),
        ({"bins": {**BINS, "lam": 0}}, "lam"),
        ({"bins": {**BINS, "similarity": "euclidean"}}, "similarity"),
        ({"bins": {**BINS, "n_bin": 3}}, "n_bin"),
        ({"sampling": {"seed": -1}}, "seed"),
        ({"featurs": {}}, "featurs"),
    ],
)
def test_schema_rejects(change, message):
    raw = {"features": {}, "bins": BINS, **change}
    with pytest.raises(ValidationError, match=message):
        DQTextParams.model_validate(raw)


@pytest.mark.parametrize(
    ("n", "bins", "selection", "message"),
    [
        (8, {**BINS, "n_bins": 9}, {"budget_fraction": 0.5}, "larger than the pool"),
        (21, {**BINS, "n_bins": 10}, {"max_samples": 21}, "larger than the 20 items"),
    ],
)
def test_bins_and_budget_are_checked_before_any_feature(n, bins, selection, message):
    with pytest.raises(ValueError, match=message):
        check_bins_and_budget(n, None, bins, {"max_samples": None, "budget_fraction": None, **selection})
    assert check_bins_and_budget(21, None, {**BINS, "remainder": "last_bin"}, {"budget_fraction": None, "max_samples": 21}) == 21


@pytest.mark.parametrize("env", ["local", "test", "gpu"])
def test_dq_image_validates_in_every_environment(env):
    from kedro.config import OmegaConfigLoader

    from data_selection.config import package_path
    from data_selection.pipelines.dq.parameters import DQImageParams
    from tests.conftest import PROJECT_ROOT

    loader = OmegaConfigLoader(str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env,
                               custom_resolvers={"pkg": package_path})
    params = DQImageParams.model_validate(loader["parameters"]["dq_image"])
    assert params["bins"]["per_class"] and params["bins"]["similarity"] == "cosine01"
    assert params["gradient"]["label_source"] == "true_label"


IMAGE_BINS = {**BINS, "per_class": True, "similarity": "cosine01", "remainder": "last_bin"}


@pytest.mark.parametrize(
    ("labels", "bins", "ipc", "message"),
    [
        (np.repeat([0, 1], [20, 5]), IMAGE_BINS, 2, "class 1 has 5 images, fewer than"),
        (np.repeat([0, 1], 20), IMAGE_BINS, 21, "IPC 21 is larger than the 20 images"),
        (np.repeat([0, 1], 25), {**IMAGE_BINS, "remainder": "unbinned"}, 21, "larger than the 20 images"),
        (np.repeat([0, 1], 20), {**IMAGE_BINS, "per_class": False}, 2, "per_class must be true"),
    ],
)
def test_image_bins_and_ipc_are_checked_before_the_feature_network(labels, bins, ipc, message):
    with pytest.raises(ValueError, match=message):
        check_image_bins_and_budget(labels, bins, ipc)


def test_image_budget_is_ipc_times_classes():
    assert check_image_bins_and_budget(np.repeat([0, 1, 2], 30), IMAGE_BINS, 3) == 9


def test_pixel_stage_without_an_mae_fails_up_front():
    from data_selection.pipelines.dq.parameters import DQImageParams

    with pytest.raises(ValidationError, match="needs dq_image.pixel.mae"):
        DQImageParams.model_validate({"bins": IMAGE_BINS, "pixel": {"enabled": True}})
    with pytest.raises(ValidationError, match="mask_ratio"):
        DQImageParams.model_validate({"bins": IMAGE_BINS, "pixel": {"mask_ratio": 1.0}})
    assert DQImageParams.model_validate({"bins": IMAGE_BINS})["pixel"]["enabled"] is False
