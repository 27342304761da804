"""Typed schemas of Dataset Quantization's parameters (``conf/base/parameters_dq_<track>.yml``), validated by Kedro
before any node runs. The bin and sampling schemas are shared by every track; each track adds its feature schema."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from data_selection.pipelines.parameters import Params


class BinParams(Params):
    """``<dq method>.bins``: GraphCut bin generation (:class:`data_selection.core.dq.GraphCutBins`)."""

    n_bins: int = Field(10, ge=1)
    lam: float = Field(1.0, gt=0)
    similarity: Literal["dot", "cosine", "cosine01"] = "dot"
    per_class: bool = False
    remainder: Literal["last_bin", "unbinned"] = "unbinned"
    dtype: Literal["float32", "float64"] = "float32"


class SamplingParams(Params):
    """``<dq method>.sampling``: uniform bin sampling (:func:`data_selection.core.dq.sample_bins`) at the shared
    budget ``selection``."""

    seed: int = Field(0, ge=0)
    per_judge_seed: bool = True


class TextFeatureParams(Params):
    """``dq_text.features``: how the shared ``sentence_embedder`` (catalog) encodes instruction + input + response."""

    batch_size: int = Field(64, ge=1)
    normalize: bool = True
    max_seq_length: int | None = Field(256, ge=8)


class DQTextParams(Params):
    """``dq_text``: Dataset Quantization on the text track."""

    features: TextFeatureParams
    bins: BinParams
    sampling: SamplingParams = Field(default_factory=SamplingParams)
