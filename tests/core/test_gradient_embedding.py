"""Last-layer gradient embeddings against PyTorch autograd of a real ``nn.Linear`` head (an independent computation:
the module's closed form is never used by the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from data_selection.core.gradient_embedding import last_layer_gradient_embedding, logit_gradients


def _autograd_embedding(h: np.ndarray, weight: np.ndarray, bias: np.ndarray, y: np.ndarray, double: bool) -> np.ndarray:
    """Per example: backward through z = W h + b and the loss, read W.grad and b.grad (DeepCore's layout)."""
    rows = []
    for i in range(len(h)):
        layer = torch.nn.Linear(h.shape[1], weight.shape[0]).double()
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(bias))
        z = layer(torch.from_numpy(h[i : i + 1]))
        loss = F.cross_entropy(torch.softmax(z, dim=1) if double else z, torch.tensor([int(y[i])]))
        loss.backward()
        rows.append(np.concatenate([layer.bias.grad.numpy(), layer.weight.grad.numpy().ravel()]))
    return np.stack(rows)


@pytest.mark.parametrize("loss", ["cross_entropy", "double_softmax"])
def test_embedding_equals_the_autograd_gradient_of_the_last_layer(loss):
    rng = np.random.default_rng(0)
    n, d, c = 7, 5, 4
    h = rng.normal(size=(n, d))
    weight, bias = rng.normal(size=(c, d)), rng.normal(size=c)
    y = rng.integers(0, c, size=n)
    logits = h @ weight.T + bias
    got = last_layer_gradient_embedding(logits, h, y, loss=loss)
    expected = _autograd_embedding(h, weight, bias, y, double=loss == "double_softmax")
    assert got.dtype == np.float32 and got.shape == (n, c + c * d)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_hand_computed_cross_entropy_gradient_and_predicted_labels():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]))
    # softmax(z) = [0.5, 0.25, 0.25], true label 1 -> e = [0.5, -0.75, 0.25]
    np.testing.assert_allclose(logit_gradients(logits, np.array([1, 2]))[0], [0.5, -0.75, 0.25])
    # predicted label of row 2 is class 2 -> e = [0.1, 0.2, -0.3]
    np.testing.assert_allclose(logit_gradients(logits, None, label_source="predicted")[1], [0.1, 0.2, -0.3])
    emb = last_layer_gradient_embedding(logits[:1], np.array([[2.0, -1.0]]), np.array([1]))
    np.testing.assert_allclose(emb[0], [0.5, -0.75, 0.25, 1.0, -0.5, -1.5, 0.75, 0.5, -0.25], rtol=1e-6)


@pytest.mark.parametrize(
    ("logits", "labels", "kwargs", "message"),
    [
        (np.zeros(3), np.array([0]), {}, r"\(B, C\)"),
        (np.zeros((2, 3)), np.array([0, 3]), {}, "0..2"),
        (np.zeros((2, 3)), np.array([0]), {}, "shape"),
        (np.zeros((2, 3)), None, {}, "needs the labels"),
        (np.zeros((2, 3)), np.array([0, 1]), {"loss": "mse"}, "loss"),
        (np.zeros((2, 3)), np.array([0, 1]), {"label_source": "oracle"}, "label_source"),
    ],
)
def test_bad_input_is_a_clear_error(logits, labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        logit_gradients(logits, labels, **kwargs)
