"""Shared fine-tune stage: LoRA-train the target model on a method's selected subset."""

from __future__ import annotations

from typing import Any

from data_selection.llm.models import CausalLM
from data_selection.llm.training import train_lora


def finetune_lora(base_model: CausalLM, selected_subset: list[dict], params: dict[str, Any]) -> tuple[dict, dict]:
    """LoRA fine-tune (transformers Trainer + peft; DeepSpeed when ``params.training.deepspeed`` is set).

    Returns:
        (adapter bundle ``{"adapter": {"tensors", "meta"}}``, training summary).
    """
    state, _, summary = train_lora(base_model, selected_subset, params["lora"], params["training"])
    meta = {"lora": dict(params["lora"]), "base_model": base_model.name, **summary}
    return {"adapter": {"tensors": state, "meta": meta}}, summary
