"""Small offline tokenizers for the LLM helper tests (no download, no model files)."""

from __future__ import annotations

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{m['role']}}> {{m['content']}} </s> {% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)

SPECIALS = ["<pad>", "<unk>", "</s>"]
MARKERS = ["<user>", "<assistant>", "<system>", "<|user|>", "<|assistant|>"]
LETTERS = ["A", "B", "C", "D"]
CUES = ["qa", "qb", "qc", "qd", "filler"]
WORDS = [f"w{i}" for i in range(40)]
VOCAB = SPECIALS + MARKERS + LETTERS + CUES + WORDS


def build_tokenizer(chat_template: str | None = None, vocab: list[str] | None = None, normalizer=None):
    """A whitespace-split WordLevel tokenizer wrapped as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = vocab or VOCAB
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if normalizer is not None:
        core.normalizer = normalizer
    kwargs = {"chat_template": chat_template} if chat_template else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        model_input_names=["input_ids", "attention_mask"],
        **kwargs,
    )


@pytest.fixture(scope="session")
def make_tokenizer():
    """The :func:`build_tokenizer` factory, for tests that need a variant."""
    pytest.importorskip("transformers")
    return build_tokenizer


@pytest.fixture(scope="session")
def vocab_ids():
    """Token -> id of the shared vocabulary."""
    return {t: i for i, t in enumerate(VOCAB)}


@pytest.fixture(scope="session")
def plain_tokenizer():
    pytest.importorskip("transformers")
    return build_tokenizer()


@pytest.fixture(scope="session")
def chat_tokenizer():
    pytest.importorskip("transformers")
    return build_tokenizer(CHAT_TEMPLATE)
