"""``less``: the typed schema of ``conf/base/parameters_less.yml``, validated by Kedro before any node runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from data_selection.pipelines.parameters import LoraParams, Params, ShardingParams, TrainingParams


class WarmupLoraParams(LoraParams):
    init_seed: int = 0


class WarmupTrainingParams(TrainingParams):
    seed: int = 0


class GradientParams(Params):
    """Per-example LoRA gradients and their projection (LESS §3.1-3.2)."""

    max_length: int = Field(ge=8)
    batch_size: int = Field(ge=1)
    max_padding_fraction: float = Field(1.0, ge=0, le=1)
    adam_variant: Literal["official", "textbook"] = "official"
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    adam_eps: float = Field(1e-8, gt=0)
    projection: Literal["sparse_jl", "rademacher"] = "sparse_jl"
    projection_dim: int = Field(8192, ge=1)
    projection_seed: int = 0
    projection_options: dict[str, Any] = Field(default_factory=dict)


class LessOptions(Params):
    """The LESS options where the paper and the official code differ (official defaults)."""

    target_task: Literal["mmlu", "bbh", "joint"] = "mmlu"
    prompt_format: Literal["tulu", "chat_template"] = "tulu"
    validation_labels: Literal["answer_letter", "full_turn"] = "answer_letter"
    bbh_shots: int = Field(2, ge=0, strict=True)


class LessParams(LessOptions):
    """``less``: every choice where the paper and the official code differ is a named option (see the README)."""

    warmup_fraction: float = Field(gt=0, le=1)
    warmup_seed: int = 0
    lora: WarmupLoraParams
    warmup_training: WarmupTrainingParams
    gradients: GradientParams
    aggregation: Literal["subtask_mean_max", "mean", "max"] = "subtask_mean_max"
    sharding: ShardingParams = Field(default_factory=ShardingParams)
