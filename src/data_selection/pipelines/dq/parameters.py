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


class FeatureModelParams(Params):
    """``dq_image.feature_model``: the trained network whose last layer gives the gradient embeddings.

    ``kind: trained`` trains the image track's classifier (``params:image_train``: same architecture and recipe as the
    judge) on the whole pool, with ``max_steps`` overriding the recipe's cap for this one run; ``keras_cifar10`` is the
    packaged, already trained Keras CIFAR-10 CNN (CIFAR-10 pools only). DQ's official code takes an
    ImageNet-pretrained ResNet-18 with a *randomly initialised* 10-class head (note pitfall 2); this project never
    uses an untrained head."""

    kind: Literal["trained", "keras_cifar10"] = "trained"
    max_steps: int | None = Field(500, ge=1)
    seed: int = Field(0, ge=0)


class GradientParams(Params):
    """``dq_image.gradient``: the last-layer gradient embedding (:mod:`data_selection.core.gradient_embedding`)."""

    loss: Literal["cross_entropy", "double_softmax"] = "cross_entropy"
    label_source: Literal["true_label", "predicted"] = "true_label"
    projection_dim: int | None = Field(512, ge=1)
    projection_seed: int = Field(0, ge=0)
    batch_size: int = Field(1024, ge=1)


class DQImageParams(Params):
    """``dq_image``: Dataset Quantization on the image track (budget: ``image_selection.ipc`` per class)."""

    feature_model: FeatureModelParams = Field(default_factory=FeatureModelParams)
    gradient: GradientParams = Field(default_factory=GradientParams)
    bins: BinParams
    sampling: SamplingParams = Field(default_factory=SamplingParams)
