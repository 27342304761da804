"""Parameter schemas: typos and impossible values fail before any work, through Kedro's own validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from data_selection.pipelines.parameters import FinetuneParams, JudgeParams, SelectionParams


def test_validated_parameters_are_plain_dicts_with_defaults():
    assert SelectionParams.model_validate({"budget_fraction": 0.2}) == {"budget_fraction": 0.2, "max_samples": None, "seed": 0}


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"budget_fraction": 0.2, "max_samples": 10}, "exactly one"),
        ({}, "exactly one"),
        ({"budget_fraction": 1.5}, "less than or equal"),
        ({"budget_fraction": 0.0}, "greater than"),
        ({"budget_fration": 0.2}, "Extra inputs"),
    ],
)
def test_selection_schema_rejects(raw, message):
    with pytest.raises(ValidationError, match=message):
        SelectionParams.model_validate(raw)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"seeds": [], "metrics": ["accuracy"]}, "at least 1"),
        ({"seeds": [0, 0], "metrics": ["accuracy"]}, "repeats"),
        ({"seeds": [0], "metrics": ["acuracy"]}, "unknown metric"),
        ({"seeds": [0], "metrics": ["accuracy"], "bootstrap_resamples": 10}, "greater than or equal"),
    ],
)
def test_judge_schema_rejects(raw, message):
    with pytest.raises(ValidationError, match=message):
        JudgeParams.model_validate(raw)


def test_finetune_schema_rejects_a_misspelt_nested_key():
    raw = {
        "lora": {"rank": 8, "alpha": 32, "dropout": 0.1, "target_modules": ["q_proj"]},
        "training": {"epochs": 1, "learning_rate": 1e-4, "batch_size": 2, "max_length": 64, "warmup_ration": 0.1},
    }
    with pytest.raises(ValidationError, match="warmup_ration"):
        FinetuneParams.model_validate(raw)


@pytest.mark.parametrize("env", ["local", "test", "gpu"])
def test_every_configuration_environment_passes_the_schemas(env):
    """conf/base + each environment, merged as `kedro run --env <env>` merges them, validates (the gpu recipe has
    never run on this machine: this is what keeps it loadable)."""
    from kedro.config import OmegaConfigLoader

    from data_selection.config import package_path
    from data_selection.pipelines.less.parameters import LessParams
    from data_selection.pipelines.parameters import EvaluateParams
    from data_selection.pipelines.selectit.parameters import SelectITParams
    from data_selection.pipelines.small2large.parameters import Small2LargeParams
    from tests.conftest import PROJECT_ROOT

    loader = OmegaConfigLoader(
        str(PROJECT_ROOT / "conf"), base_env="base", default_run_env=env, custom_resolvers={"pkg": package_path}
    )
    params = loader["parameters"]
    schemas = {"selection": SelectionParams, "judge": JudgeParams, "finetune": FinetuneParams, "evaluate": EvaluateParams,
               "less": LessParams, "selectit": SelectITParams, "small2large": Small2LargeParams}
    for key, schema in schemas.items():
        schema.model_validate(params[key])


def test_image_parameters_reject_typos_impossible_splits_and_a_zero_ipc():
    from data_selection.pipelines.parameters import ImageDataParams, ImageSelectionParams, ImageTrainParams

    assert ImageTrainParams.model_validate({"epochs": 3})["augment"] == {"crop_padding": 4, "flip": True}
    with pytest.raises(ValidationError, match="epoch"):
        ImageTrainParams.model_validate({"epoch": 3})
    with pytest.raises(ValidationError, match="architecture"):
        ImageTrainParams.model_validate({"epochs": 3, "architecture": "vgg"})
    with pytest.raises(ValidationError, match="ipc"):
        ImageSelectionParams.model_validate({"ipc": 0})
    with pytest.raises(ValidationError, match="test_per_class"):
        ImageDataParams.model_validate({"pool_split": "all", "test_split": None})
    with pytest.raises(ValidationError, match="equals pool_split"):
        ImageDataParams.model_validate({"pool_split": "train", "test_split": "train"})


def test_small2large_schema_rejects_impossible_settings():
    from data_selection.pipelines.small2large.parameters import Small2LargeParams

    training = {"epochs": 3, "learning_rate": 2e-5, "batch_size": 4, "max_length": 64}
    assert Small2LargeParams.model_validate({"selector_training": training})["selector_training"]["seed"] == 42
    with pytest.raises(ValidationError, match="selector_lora"):
        Small2LargeParams.model_validate({"selector_training": training, "selector_finetune": "lora"})
    with pytest.raises(ValidationError, match="rounding"):
        Small2LargeParams.model_validate({"selector_training": training, "rounding": "ceil"})
    with pytest.raises(ValidationError, match="deepspeed"):
        Small2LargeParams.model_validate({"selector_training": {**training, "deepspeed": "ds.json"}})
    with pytest.raises(ValidationError, match="launcher.num_processes: 1"):
        Small2LargeParams.model_validate({"selector_training": {**training, "launcher": {"num_processes": 2}}})


def test_training_launcher_defaults_to_one_process_and_rejects_unknown_launchers():
    raw = {
        "lora": {"rank": 8, "alpha": 32, "dropout": 0.1, "target_modules": ["q_proj"]},
        "training": {"epochs": 1, "learning_rate": 1e-4, "batch_size": 2, "max_length": 64},
    }
    launcher = FinetuneParams.model_validate(raw)["training"]["launcher"]
    assert launcher == {"num_processes": 1, "command": "accelerate", "extra_args": []}
    for bad, message in (({"num_processes": 0}, "num_processes"), ({"command": "mpirun"}, "command"),
                         ({"procs": 2}, "procs")):
        with pytest.raises(ValidationError, match=message):
            FinetuneParams.model_validate({**raw, "training": {**raw["training"], "launcher": bad}})
