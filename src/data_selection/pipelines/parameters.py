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


class LauncherParams(Params):
    """``training.launcher``: how many processes train (``llm.launch``). 1 = in-process (CPU default); N > 1 = N ranks
    started by ``accelerate launch --multi_gpu`` (GPU machines) or ``torchrun --standalone`` (also gloo CPU ranks),
    each running the same Trainer (DDP, or DeepSpeed ZeRO-2 with ``training.deepspeed``); Kedro stays one process."""

    num_processes: int = Field(1, ge=1)
    command: Literal["accelerate", "torchrun"] = "accelerate"
    extra_args: list[str] = Field(default_factory=list)


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
    launcher: LauncherParams = Field(default_factory=LauncherParams)


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


# ---------------------------------------------------------------- the image track
class ImageDataParams(Params):
    """``image_data``: how the image source (catalog ``image_source``) becomes a selection pool and a test split.

    ``test_split: null`` holds out ``test_per_class`` images of every class of ``pool_split`` by a seeded stratified
    split (CIFAR-10 from BIG-bench has one split only); otherwise ``test_per_class`` (if set) subsamples the test split.
    ``pool_per_class`` (if set) subsamples the pool, seeded by ``split_seed``.
    """

    pool_split: str = "train"
    test_split: str | None = "test"
    test_per_class: int | None = Field(None, ge=1)
    pool_per_class: int | None = Field(None, ge=1)
    split_seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _held_out_size(self):
        if self.test_split is None and self.test_per_class is None:
            raise ValueError("image_data.test_split is null: give image_data.test_per_class (images held out per class)")
        if self.test_split == self.pool_split:
            raise ValueError(f"image_data.test_split equals pool_split ({self.pool_split!r}): set test_split null to hold out")
        return self


class ImageSelectionParams(Params):
    """``image_selection``: the image budget in images per class (IPC) and the random draws' seed."""

    ipc: int = Field(ge=1)
    seed: int = Field(0, ge=0)


class AugmentParams(Params):
    crop_padding: int = Field(4, ge=0)
    flip: bool = True


class ImageTrainParams(Params):
    """``image_train``: the classifier every image method is judged with (see ``vision.training``)."""

    architecture: Literal["convnet", "resnet18"] = "convnet"
    width: int = Field(128, ge=1)
    depth: int = Field(3, ge=1)
    epochs: int = Field(ge=1)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(256, ge=1)
    learning_rate: float = Field(0.01, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    lr_schedule: Literal["step_half", "cosine", "constant"] = "step_half"
    augment: AugmentParams = AugmentParams()
    eval_batch_size: int = Field(1024, ge=1)
    device: str = "auto"
    num_threads: int | None = Field(None, ge=1)


class RayExecutorParams(Params):
    """Ray Data actors of a sharded pass (``executor: ray``): how many, and the CPUs / GPUs each holds."""

    concurrency: int = Field(1, ge=1)
    num_cpus: float = Field(1, gt=0)
    num_gpus: float = Field(0, ge=0)


class ShardingParams(Params):
    """How a per-example pass is split and where it runs (:mod:`data_selection.executors`): ``shard_size`` examples
    per shard file (the unit a killed run resumes from), ``executor`` ``local`` (this process) or ``ray``."""

    shard_size: int = Field(64, ge=1)
    executor: Literal["local", "ray"] = "local"
    ray: RayExecutorParams = Field(default_factory=RayExecutorParams)
