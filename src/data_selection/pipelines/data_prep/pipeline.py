"""``data_prep``: raw (01) -> intermediate (02) -> primary (03)."""

from kedro.pipeline import Pipeline, node

from .nodes import (
    build_pool,
    merge_reports,
    normalise_alpaca,
    normalise_natural_instructions,
    normalise_sharegpt,
    prepare_targets,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(normalise_sharegpt, ["sharegpt_raw", "params:data_prep"], ["sharegpt_normalised", "sharegpt_report"], name="normalise_sharegpt"),
            node(normalise_alpaca, ["alpaca_raw", "params:data_prep"], ["alpaca_normalised", "alpaca_report"], name="normalise_alpaca"),
            node(
                normalise_natural_instructions,
                ["natural_instructions_raw", "params:data_prep"],
                ["natural_instructions_normalised", "natural_instructions_report"],
                name="normalise_natural_instructions",
            ),
            node(
                build_pool,
                ["sharegpt_normalised", "alpaca_normalised", "natural_instructions_normalised", "params:data_prep"],
                "pool",
                name="build_pool",
            ),
            node(
                prepare_targets,
                ["mmlu_raw", "bigbench_tasks_raw", "params:data_prep"],
                ["target_validation", "target_test", "targets_report"],
                name="prepare_targets",
            ),
            node(
                merge_reports,
                ["sharegpt_report", "alpaca_report", "natural_instructions_report", "targets_report"],
                "bad_records_report",
                name="report_bad_records",
            ),
        ],
        tags="data_prep",
    )
