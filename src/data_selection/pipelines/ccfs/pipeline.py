"""The ``ccfs`` method's own nodes, un-namespaced (the registry puts them under ``ccfs`` and appends the image
track, which reads ``selection`` and ``synthetic_images``)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from .nodes import initial_distilled_set, plan_budget, record_forgetting, select_ccfs, teacher_logits


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(plan_budget, ["image_pool", "params:ccfs", "params:image_selection"], "plan", name="plan_budget"),
            node(record_forgetting, ["image_pool", "plan", "params:ccfs"],
                 ["forgetting_scores", "pool_model", "forgetting_summary"], name="record_forgetting"),
            node(initial_distilled_set, ["image_pool", "plan", "params:ccfs"], "distilled_set",
                 name="initial_distilled_set"),
            node(teacher_logits, ["image_pool", "distilled_set", "pool_model", "plan", "params:ccfs"],
                 "teacher_logits", name="teacher_logits"),
            node(select_ccfs, ["image_pool", "distilled_set", "teacher_logits", "forgetting_scores", "plan",
                               "params:ccfs"],
                 ["selection", "synthetic_images", "curriculum_report", "curriculum_metrics"], name="select_ccfs"),
        ]
    )
