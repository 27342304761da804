"""``data_prep``: raw (01) -> intermediate (02) -> primary (03).

The pool is built from ``instruction_sources`` (any number of named sources, see
``conf/base/catalog_data_prep.yml``) mixed by ``data_prep.pool.mixture``.
"""

from kedro.pipeline import Pipeline, node

from .nodes import build_pool, merge_reports, normalise_sources, prepare_targets


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                normalise_sources,
                ["instruction_sources", "params:data_prep.pool", "params:data_prep.on_bad_record"],
                ["normalised_sources", "sources_report"],
                name="normalise_sources",
            ),
            node(build_pool, ["normalised_sources", "params:data_prep.pool"], "pool", name="build_pool"),
            node(
                prepare_targets,
                ["mmlu_raw", "bigbench_tasks_raw", "params:data_prep.targets", "params:data_prep.on_bad_record"],
                ["target_validation", "target_test", "targets_report"],
                name="prepare_targets",
            ),
            node(merge_reports, ["sources_report", "targets_report"], "bad_records_report", name="report_bad_records"),
        ],
        tags="data_prep",
    )
