"""``small2large``: the typed schema of ``conf/base/parameters_small2large.yml``, validated before any node runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from data_selection.pipelines.parameters import LoraParams, Params, TrainingParams


class SelectorTrainingParams(TrainingParams):
    """The selector's fine-tune on the whole pool (paper: 3 epochs, lr 2e-5, cosine, warmup 0.03, seed 42)."""

    seed: int = Field(42, ge=0)


class Small2LargeParams(Params):
    """``small2large`` (Mekala et al., Findings of ACL 2024). Every paper/official-code difference is a field."""

    variant: Literal["lp1", "lp1_approx"] = "lp1"
    chunk: Literal["low", "mid", "high"] = "low"
    rounding: Literal["exact", "official"] = "exact"
    unlearned: Literal["official", "first", "last"] = "official"
    num_clusters: int | None = Field(None, ge=1)
    examples_per_cluster: float = Field(52.0, gt=0)
    kmeans_seed: int = Field(42, ge=0)
    embedding_batch_size: int = Field(32, ge=1)
    selector_finetune: Literal["full", "lora"] = "full"
    selector_lora: LoraParams | None = None
    selector_training: SelectorTrainingParams
    perplexity_batch_size: int = Field(8, ge=1)
    perplexity_max_padding_fraction: float = Field(1.0, ge=0, le=1)
    clust_rand_seed: int = Field(42, ge=0)

    @model_validator(mode="after")
    def _consistent(self):
        if self.selector_finetune == "lora" and self.selector_lora is None:
            raise ValueError("selector_finetune: lora needs selector_lora (rank, alpha, dropout, target_modules)")
        if self.selector_training.deepspeed:
            raise ValueError("the selector's perplexity callback needs the plain Trainer: set selector_training.deepspeed: null")
        if self.selector_training.launcher.num_processes > 1:
            raise ValueError("the selector's perplexities are recorded in one process: set "
                             "selector_training.launcher.num_processes: 1")
        return self
