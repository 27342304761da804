"""Typed schemas of the shared parameters, validated by Kedro before any node runs.

Kedro (>= 1.5) validates every ``params:<key>`` node input whose type hint is a Pydantic model, for the pipelines
being run, before the first node starts: a typo (an unknown key, ``extra="forbid"``) or an impossible value fails in
the first second, not after a rating pass. :class:`Params` returns the validated values as a plain ``dict`` (defaults
filled in), so nodes, kedro-mlflow's parameter logging and the model code keep reading dictionaries.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Params(BaseModel):
    """Base of every parameter schema: unknown keys are errors; validation returns a plain dict."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_validate(cls, obj: Any, *args, **kwargs) -> dict[str, Any]:  # type: ignore[override]
        """Validate ``obj`` and return it as a ``dict`` (nested schemas as nested dicts, defaults filled in).

        Raises:
            pydantic.ValidationError: unknown keys, wrong types, values out of range, impossible combinations.
        """
        return super().model_validate(obj, *args, **kwargs).model_dump()


class SelectionParams(Params):
    """``selection``: the budget every method selects, and the random baseline's seed."""

    budget_fraction: float | None = Field(None, gt=0, le=1)
    max_samples: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _one_budget(self):
        if (self.budget_fraction is None) == (self.max_samples is None):
            raise ValueError("give exactly one of selection.budget_fraction or selection.max_samples")
        return self


class LoraParams(Params):
    rank: int = Field(ge=1)
    alpha: float = Field(gt=0)
    dropout: float = Field(ge=0, lt=1)
    target_modules: list[str] = Field(min_length=1)


class TrainingParams(Params):
    epochs: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    lr_scheduler: str = "linear"
    warmup_ratio: float = Field(0.0, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    max_length: int = Field(ge=8)
    deepspeed: str | None = None
    bf16: bool = False


class FinetuneParams(Params):
    """``finetune``: the shared LoRA recipe of the text track (the judge seed sets LoRA init and data order)."""

    lora: LoraParams
    training: TrainingParams


class EvaluateParams(Params):
    """``evaluate``: how the text track scores the held-out questions (see ``llm.evaluation``)."""

    batch_size: int = Field(8, ge=1)
    logits: Literal["last", "full"] = "last"
    merge_adapter: bool = True


class JudgeParams(Params):
    """``judge``: seeds of the fine-tune (and of random's draws), and the comparison report's statistics."""

    seeds: list[int] = Field(min_length=1)
    metrics: list[str] = Field(min_length=1)
    bootstrap_resamples: int = Field(2000, ge=100)
    bootstrap_seed: int = 0
    min_questions: int = Field(30, ge=1)

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"judge.seeds repeats a seed: {seeds}")
        if any(s < 0 for s in seeds):
            raise ValueError(f"judge.seeds must be >= 0: {seeds}")
        return seeds

    @field_validator("metrics")
    @classmethod
    def _known(cls, metrics: list[str]) -> list[str]:
        from data_selection.pipelines.reporting.nodes import metric_names

        unknown = [m for m in metrics if m not in metric_names()]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {metric_names()}")
        return metrics
