"""``ccfs``: the typed schema of ``conf/base/parameters_ccfs.yml``, validated by Kedro before any node runs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from data_selection.pipelines.parameters import Params


class NetworkParams(Params):
    """The network of the forgetting run, the DM embeddings and the filter (built by ``vision.networks``)."""

    architecture: Literal["convnet", "resnet18"] = "convnet"
    width: int = Field(128, ge=1)
    depth: int = Field(3, ge=1)


class TeacherParams(Params):
    """``keras_cifar10``: the packaged Keras CIFAR-10 CNN (32x32 RGB only); ``forgetting_run``: the network trained
    on the pool by the forgetting run (one training serves both; the paper trains a separate ResNet-18 teacher)."""

    kind: Literal["keras_cifar10", "forgetting_run"] = "forgetting_run"


class ForgettingParams(Params):
    """The cross-entropy run on the pool that records forgetting scores (Toneva et al. 2019)."""

    epochs: int = Field(ge=2)
    batch_size: int = Field(128, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    flip: bool = True
    never_learned: Literal["max", "zero"] = "max"


class DMParams(Params):
    """Distribution Matching schedule (official: 20,000 iterations, 256 real images per class, lr 1, momentum 0.5)."""

    iterations: int = Field(ge=1)
    batch_real: int = Field(ge=1)
    lr: float = Field(1.0, gt=0)
    momentum: float = Field(0.5, ge=0, lt=1)
    init: Literal["real", "noise"] = "real"


class DistilledParams(Params):
    """``dm``: distil the initial set with DM; ``npz``: read a user's distilled set from ``path``."""

    source: Literal["dm", "npz"] = "dm"
    path: str | None = None
    dm: DMParams

    @model_validator(mode="after")
    def _path_for_npz(self):
        if self.source == "npz" and not self.path:
            raise ValueError("ccfs.distilled.source 'npz' needs ccfs.distilled.path (an .npz with images and labels)")
        return self


class FilterParams(Params):
    """The per-curriculum filter, trained by KD from the teacher (CCFS: T 20, SGD 0.2/0.9/1e-4, cosine, 5 warm-up)."""

    temperature: float = Field(20.0, gt=0)
    epochs: int = Field(ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(0.2, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_epochs: int = Field(5, ge=0)
    flip: bool = True


class CcfsParams(Params):
    """``ccfs``: CCFS (Chen et al., CVPR 2025) on the image track's pool."""

    #: images per class of the final set; ``None`` (the default) = the image track's ``image_selection.ipc``, the
    #: budget every image method is judged at. A value that differs from it is an error (the track checks IPC).
    ipc: int | None = Field(None, ge=1)
    alpha: float = Field(ge=0, le=1)
    curricula: int = Field(3, ge=1)
    top_up: Literal["teacher_correct", "any", "none", "error"] = "teacher_correct"
    seed: int = Field(0, ge=0)
    eval_batch_size: int = Field(1024, ge=1)
    network: NetworkParams
    teacher: TeacherParams
    forgetting: ForgettingParams
    distilled: DistilledParams
    filter: FilterParams
