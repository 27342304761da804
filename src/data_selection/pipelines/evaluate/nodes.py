"""Shared evaluate stage: target-task accuracy and response loss of base model + adapter."""

from __future__ import annotations

import time
from typing import Any

from data_selection.llm.evaluation import (
    LOGITS_MODES,
    adapted_model,
    check_rows,
    evaluate_multiple_choice,
    prediction_records,
    summarise,
)
from data_selection.llm.models import CausalLM


def evaluate_model(
    base_model: CausalLM, finetuned_adapter: dict, target_test: list[dict], finetune_params: dict[str, Any], params: dict[str, Any]
) -> tuple[dict, dict, list[dict]]:
    """Evaluate on the held-out target test split.

    ``finetuned_adapter`` is the fine-tune stage's bundle, or ``{}`` for the base model alone. The adapter is
    merged into a copy of the base weights (``params.merge_adapter``, default true); ``base_model.model``
    is left unchanged for the other nodes of the run.

    Returns:
        (metrics dict for 08_reporting, the same metrics in kedro-mlflow's format, per-question predictions).
    """
    batch_size = int(params.get("batch_size", 8))
    logits = params.get("logits", "last")
    if batch_size < 1 or logits not in LOGITS_MODES:
        raise ValueError(f"evaluate: batch_size must be >= 1 and logits one of {LOGITS_MODES}, got {batch_size}, {logits!r}")
    check_rows(target_test)
    start = time.perf_counter()
    adapter = finetuned_adapter["adapter"]["tensors"] if finetuned_adapter else None
    lora = finetune_params["lora"] if finetuned_adapter else None
    with adapted_model(base_model, lora, adapter, merge=bool(params.get("merge_adapter", True))) as model:
        result = evaluate_multiple_choice(model, base_model.tokenizer, target_test, batch_size=batch_size, logits=logits)
    metrics = summarise(target_test, result)
    metrics["eval_runtime_s"] = time.perf_counter() - start
    mlflow_metrics = {k: {"value": float(v), "step": 0} for k, v in metrics.items()}
    return metrics, mlflow_metrics, prediction_records(target_test, result)
