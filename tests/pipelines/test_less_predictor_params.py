"""``less_predictor`` parameters: every environment validates; typos and impossible values are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data_selection.pipelines.less_predictor.parameters import LessPredictorParams


@pytest.mark.parametrize("env", ["local", "test", "gpu", "pool1000"])
def test_every_environment_validates(env):
    from kedro.config import OmegaConfigLoader

    from data_selection.config import package_path
    from data_selection.pipelines.less.parameters import LessParams
    from tests.conftest import PROJECT_ROOT

    loader = OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env, custom_resolvers={"pkg": package_path}
    )
    params = loader["parameters"]
    LessPredictorParams.model_validate(params["less_predictor"])
    LessParams.model_validate(params["less"])
    if env == "pool1000":  # the predictor's pool, shared by every method of that environment
        assert params["data_prep"]["pool"]["size"] == 1000
        base = OmegaConfigLoader(
            str(PROJECT_ROOT / "conf"), base_env="base", default_run_env="local", custom_resolvers={"pkg": package_path}
        )["parameters"]["data_prep"]
        base["pool"]["size"] = 1000  # everything else (mixture, targets) is base's: same target, same sources
        assert params["data_prep"] == base


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
