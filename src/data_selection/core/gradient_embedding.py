"""Last-layer gradient embeddings: the image feature space of Dataset Quantization (and of BADGE / DeepCore).

Framework-free: NumPy in, NumPy out. For a classifier whose last layer is ``z = W h + b`` (``W``: C x d) and a loss
``L(z, y)``, the gradient of ``L`` with respect to that layer is

    dL/db = e,    dL/dW = e h^T,    e = dL/dz  (C,)

and the embedding of one example is ``[e, flatten(e h^T)]`` (C + C*d values, the bias part first and the weight
part row-major in (class, feature) order, as PyTorch's ``nn.Linear.weight``). DQ's vision code computes exactly this
(official ``dq/methods/submodular.py::calc_gradient``, from DeepCore) with the *true* label and the loss
``CrossEntropy(softmax(z), y)`` -- a softmax applied twice; the named option ``loss`` chooses between

* ``"cross_entropy"``: ``L = -log softmax(z)_y``, so ``e = softmax(z) - onehot(y)``;
* ``"double_softmax"`` (official): ``L = -log softmax(p)_y`` with ``p = softmax(z)``; by the chain rule through the
  softmax Jacobian ``J = diag(p) - p p^T``, ``e = J (softmax(p) - onehot(y)) = p * v - p (p . v)`` with
  ``v = softmax(p) - onehot(y)``.

``label_source="predicted"`` uses the network's argmax instead of the true label (BADGE, Ash et al. ICLR 2020,
Sec. 3), for unlabelled pools.

No gradient is back-propagated: e has a closed form, so an embedding costs one forward pass.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

GradientLoss = Literal["cross_entropy", "double_softmax"]
LabelSource = Literal["true_label", "predicted"]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def logit_gradients(
    logits: np.ndarray, labels: np.ndarray | None, loss: GradientLoss = "cross_entropy", label_source: LabelSource = "true_label"
) -> np.ndarray:
    """e = dL/dz for every example (formulas in the module docstring).

    Args:
        logits: float (B, C) last-layer outputs z.
        labels: int (B,) in 0..C-1, the true labels (ignored, and may be None, with ``label_source="predicted"``).
        loss: ``"cross_entropy"`` or ``"double_softmax"`` (DQ's official loss).
        label_source: ``"true_label"`` (DQ) or ``"predicted"`` (argmax z, BADGE).

    Returns:
        float64 (B, C). Every row sums to 0 (both losses are shift-invariant in z).

    Raises:
        ValueError: logits not 2-D, labels of the wrong shape or out of range, an unknown loss or label source.
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 1:
        raise ValueError(f"logits must be (B, C), got shape {z.shape}")
    if label_source == "predicted":
        y = z.argmax(axis=1)
    elif label_source == "true_label":
        if labels is None:
            raise ValueError("label_source='true_label' needs the labels")
        y = np.asarray(labels)
        if y.shape != (len(z),) or not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape ({len(z)},), got {y.dtype} {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= z.shape[1]):
            raise ValueError(f"labels must be in 0..{z.shape[1] - 1}")
    else:
        raise ValueError(f"label_source must be 'true_label' or 'predicted', got {label_source!r}")
    onehot = np.zeros_like(z)
    onehot[np.arange(len(z)), y] = 1.0
    p = _softmax(z.copy())
    if loss == "cross_entropy":
        return p - onehot
    if loss == "double_softmax":
        v = _softmax(p.copy()) - onehot
        return p * v - p * np.sum(p * v, axis=1, keepdims=True)
    raise ValueError(f"loss must be 'cross_entropy' or 'double_softmax', got {loss!r}")


def last_layer_gradient_embedding(
    logits: np.ndarray,
    features: np.ndarray,
    labels: np.ndarray | None,
    loss: GradientLoss = "cross_entropy",
    label_source: LabelSource = "true_label",
) -> np.ndarray:
    """``[e, flatten(e h^T)]`` per example: the gradient of the loss w.r.t. the last layer's bias and weight.

    Args:
        logits: float (B, C) last-layer outputs z = W h + b.
        features: float (B, d) the last layer's inputs h (the penultimate features).
        labels, loss, label_source: as :func:`logit_gradients`.

    Returns:
        float32 (B, C + C*d): columns 0..C-1 are dL/db, column C + c*d + k is dL/dW[c, k].

    Raises:
        ValueError: as :func:`logit_gradients`, or features whose row count differs from the logits'.
    """
    h = np.asarray(features, dtype=np.float64)
    e = logit_gradients(logits, labels, loss, label_source)
    if h.ndim != 2 or len(h) != len(e):
        raise ValueError(f"features must be (B, d) with B = {len(e)}, got shape {h.shape}")
    weight = (e[:, :, None] * h[:, None, :]).reshape(len(e), -1)
    return np.concatenate([e, weight], axis=1).astype(np.float32)
