"""``less_predictor``: the typed schema of ``conf/base/parameters_less_predictor.yml``, validated before any node runs.

The warmup, gradient and LESS options are LESS's own (``params:less``, :class:`~data_selection.pipelines.less.
parameters.LessParams`), so the predictor's real influence is exactly what ``kedro run --pipeline=less`` computes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from data_selection.pipelines.parameters import Params


class EmbeddingParams(Params):
    batch_size: int = Field(32, ge=1)
    max_length: int = Field(256, ge=8)


class LessPredictorParams(Params):
    """``less_predictor``: which pool examples get real LESS influence and how the rest is predicted."""

    train_fraction: float = Field(0.15, gt=0, lt=1)  # share of the pool with real gradients (training points)
    split_seed: int = 0
    aggregation: Literal["subtask_mean_max", "avg", "max", "min"] = "subtask_mean_max"  # the score selected on
    n_levels: int = Field(10, ge=2)  # quantile influence levels of the classifier
    regressor: Literal["ridge", "gradient_boosting", "mlp"] = "ridge"  # mlp = NN-CIFT's option
    classifier: Literal["logistic", "gradient_boosting", "mlp"] = "logistic"
    cv_folds: int = Field(5, ge=2)
    cv_seed: int = 0
    selection_mode: Literal["candidates", "predicted"] = "candidates"  # candidates = extended LESS step 6
    max_gradient_fraction: float = Field(0.3, gt=0, le=1)  # issue 12: real gradients <= 30 % of full LESS's
    features: Literal["minilm", "hidden_states"] = "minilm"
    embedding: EmbeddingParams = Field(default_factory=EmbeddingParams)
