"""``selectit``: the typed schema of ``conf/base/parameters_selectit.yml``, validated by Kedro before any node runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from data_selection.pipelines.parameters import Params, ShardingParams

#: the rating models SelectIT's model level combines in this project (base + second rater)
RATING_MODELS = 2


class SelectITParams(Params):
    """``selectit`` (Liu et al. 2024); impossible combinations fail before the first rating pass."""

    rating_levels: int = Field(5, ge=2, le=9)
    num_prompts: int = Field(ge=1)
    token_level_prompt: int = Field(0, ge=0)
    alpha: float = Field(0.2, ge=0)
    normalisation: Literal["paper", "code"] = "paper"
    weighting: Literal["paper", "code"] = "paper"
    level: Literal["token", "sentence", "model"] = "model"
    max_length: int = Field(ge=16)
    truncate_instruction: Literal["middle", "end"] = "middle"
    min_instruction_tokens: int = Field(32, ge=0)
    prompt_separator: str = "\n\n"
    batch_size: int = Field(8, ge=1)
    on_failure: Literal["error", "skip"] = "error"
    prompts: list[str] = Field(min_length=1)
    sharding: ShardingParams = Field(default_factory=ShardingParams)

    @model_validator(mode="after")
    def _consistent(self):
        if self.num_prompts > len(self.prompts):
            raise ValueError(f"num_prompts={self.num_prompts} but only {len(self.prompts)} rating prompts are configured")
        if self.token_level_prompt >= self.num_prompts:
            raise ValueError(f"token_level_prompt={self.token_level_prompt} must index one of the first num_prompts prompts")
        if self.weighting == "code":
            raise ValueError(
                f"weighting: code is the official script's fixed weights for THREE rating models (7B/13B/70B); this "
                f"pipeline has {RATING_MODELS} raters (base_model, second_rating_model): use weighting: paper"
            )
        return self
