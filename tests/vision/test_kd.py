"""Tests for data_selection.vision.kd: the KD loss against a hand computation, the tracker on a scripted run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from data_selection.core.ccfs import forgetting_counts
from data_selection.vision.kd import (
    ForgettingTracker,
    IndexedDataset,
    kd_loss,
    predict,
    train_kd,
    train_recording_forgetting,
    warmup_cosine,
)


def _softmax(values):
    e = [math.exp(v) for v in values]
    return [x / sum(e) for x in e]


def test_kd_loss_matches_hand_computation():
    student = [[1.0, 2.0, 0.0], [0.5, -1.0, 3.0]]
    teacher = [[2.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    T = 2.0
    expected = 0.0
    for s, t in zip(student, teacher):
        p = _softmax([v / T for v in t])
        q = _softmax([v / T for v in s])
        expected += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    expected = T * T * expected / 2  # batchmean over 2 rows
    got = kd_loss(torch.tensor(student), torch.tensor(teacher), T)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_kd_loss_zero_when_equal_and_gradient_only_to_student():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    assert kd_loss(logits, logits.clone(), 20.0).item() == pytest.approx(0.0, abs=1e-7)
    student = torch.zeros(2, 3, requires_grad=True)
    teacher = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0]], requires_grad=True)
    kd_loss(student, teacher, 1.0).backward()
    assert teacher.grad is None
    # d/ds of KL(p||softmax(s)) = softmax(s) - p, / batch
    p = torch.softmax(teacher.detach(), dim=1)
    torch.testing.assert_close(student.grad, (torch.full((2, 3), 1 / 3) - p) / 2)


def test_kd_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="must both be"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 4), 1.0)
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), 0.0)


def test_tracker_on_a_scripted_training_run():
    # 4 examples, 2 classes, 3 epochs, batch 2 in shuffled order; the "model" outputs scripted logits
    labels = torch.tensor([0, 1, 0, 1])
    correct_by_epoch = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 1, 0]], dtype=bool)
    data = IndexedDataset(TensorDataset(torch.zeros(4, 1), labels))
    tracker = ForgettingTracker(4)
    generator = torch.Generator().manual_seed(0)
    for epoch in range(3):
        for _, y, idx in DataLoader(data, batch_size=2, shuffle=True, generator=generator):
            right = torch.from_numpy(correct_by_epoch[epoch][idx.numpy()])
            predicted = torch.where(right, y, 1 - y)
            logits = torch.nn.functional.one_hot(predicted, 2).float()
            tracker.update(idx, logits, y)
    # by hand: e0 1,0,1 -> 1; e1 1,1,0 -> 1; e2 0,1,1 -> 0; e3 1,1,0 -> 1
    np.testing.assert_array_equal(tracker.scores(), [1, 1, 0, 1])
    np.testing.assert_array_equal(tracker.scores(), forgetting_counts(correct_by_epoch))


def test_tracker_rejects_mismatched_batch():
    tracker = ForgettingTracker(3)
    with pytest.raises(ValueError, match="expected indices"):
        tracker.update(torch.tensor([0, 1]), torch.zeros(3, 2), torch.tensor([0, 1, 0]))


def test_indexed_dataset_appends_index():
    data = IndexedDataset(TensorDataset(torch.arange(3).float(), torch.tensor([2, 1, 0])))
    x, y, i = data[2]
    assert (x.item(), y.item(), i) == (2.0, 0, 2)


def test_warmup_cosine_schedule():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.01)
    assert warmup_cosine(5, 100, 10) == pytest.approx(0.01 + 0.99 * 0.5)
    assert warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.5)  # half-way through the cosine part
    assert warmup_cosine(100, 100, 0) == pytest.approx(0.0, abs=1e-12)


def _toy(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 6, 6, generator=g)
    y = (x[:, 0, :3].mean((1, 2)) > x[:, 0, 3:].mean((1, 2))).long()
    return x, y


def _tiny():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def test_train_kd_student_learns_the_teacher_not_the_labels():
    x, y = _toy()
    teacher_logits = torch.stack([x[:, 0, :, :3].mean((1, 2)), x[:, 0, :, 3:].mean((1, 2))], 1) * 10  # left vs right
    teacher_pred = teacher_logits.argmax(1)
    assert (teacher_pred != y).float().mean() > 0.2  # the teacher disagrees with the labels often
    model, summary = train_kd(_tiny, x, teacher_logits, temperature=4.0, epochs=20, batch_size=16, lr=0.1,
                              warmup_epochs=2, flip=False, progress=False)
    student_pred = predict(model, x).argmax(1)
    assert (student_pred == teacher_pred).float().mean() > 0.9
    assert summary["steps"] == 20 * 4


def test_train_recording_forgetting_is_seeded_and_counts_per_epoch():
    x, y = _toy()
    _, a, summary = train_recording_forgetting(_tiny, x, y, epochs=5, batch_size=16, lr=0.05, progress=False, seed=1)
    _, b, _ = train_recording_forgetting(_tiny, x, y, epochs=5, batch_size=16, lr=0.05, progress=False, seed=1)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (64,) and a.min() >= 0 and a.max() <= 5  # at most 5 presentations per example
    assert np.all(a == np.round(a)) and summary["steps"] == 5 * 4
