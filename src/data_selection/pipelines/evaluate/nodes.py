"""Shared evaluate stage: target-task accuracy and response loss of base model + adapter."""

from __future__ import annotations

import time
from typing import Any

from data_selection.llm.evaluation import evaluate_multiple_choice, summarise
from data_selection.llm.models import CausalLM
from data_selection.llm.training import attach_lora


def evaluate_model(
    base_model: CausalLM, finetuned_adapter: dict, target_test: list[dict], finetune_params: dict[str, Any], params: dict[str, Any]
) -> tuple[dict, dict, list[dict]]:
    """Evaluate on the held-out target test split.

    ``finetuned_adapter`` is the fine-tune stage's bundle, or ``{}`` for the base model alone.

    Returns:
        (metrics dict for 08_reporting, the same metrics in kedro-mlflow's format, per-question predictions).
    """
    start = time.perf_counter()
    model = base_model.model
    if finetuned_adapter:
        model = attach_lora(base_model, finetune_params["lora"], adapter_state=finetuned_adapter["adapter"]["tensors"])
    model.eval()
    result = evaluate_multiple_choice(model, base_model.tokenizer, target_test, batch_size=int(params["batch_size"]))
    metrics = summarise(target_test, result)
    metrics["eval_runtime_s"] = time.perf_counter() - start
    predictions = [
        {"id": r["id"], "task": r["task"], "subtask": r["subtask"], "answer": int(r["answer"]),
         "prediction": int(p), "correct": bool(c), "loss": float(l)}
        for r, p, c, l in zip(target_test, result["predictions"], result["correct"], result["loss"])
    ]
    mlflow_metrics = {k: {"value": float(v), "step": 0} for k, v in metrics.items()}
    return metrics, mlflow_metrics, predictions
