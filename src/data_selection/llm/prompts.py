"""Prompt formats: the Tulu/open-instruct text format, chat templates without injected system prompts, and
LESS's validation examples in the official task formats.

Two prompt formats (``prompt_format``):

* ``"tulu"``: the open-instruct format that official LESS trains and scores with
  (``less/data_selection/get_training_dataset.py``, ``concat_messages``)::

      <|system|>\\n{system}\\n<|user|>\\n{user}\\n<|assistant|>\\n{assistant}{eos}\\n

  message contents are stripped of surrounding whitespace, as there. The tokenizer's own special tokens
  (e.g. Llama-2's BOS) are added at tokenisation (``add_special_tokens=True``), as the official code does.
* ``"chat_template"``: the tokenizer's chat template, **without** a default system prompt that the data did
  not contain (SmolLM2's template injects "You are a helpful AI assistant named SmolLM…" when the first
  message is not a system message; :func:`injected_system_block` detects such a block and it is removed).

The validation examples follow ``less/data_selection/get_validation_dataset.py`` (see
:func:`validation_example`).
"""

from __future__ import annotations

import string
from typing import Literal

PromptFormat = Literal["tulu", "chat_template"]
PROMPT_FORMATS = ("tulu", "chat_template")
ValidationLabels = Literal["answer_letter", "full_turn"]
VALIDATION_LABELS = ("answer_letter", "full_turn")

TULU_SYSTEM, TULU_USER, TULU_ASSISTANT = "<|system|>\n", "<|user|>\n", "<|assistant|>\n"
LETTERS = string.ascii_uppercase

# sentinels for probing a chat template: plain words that no template rewrites
_PROBE_USER = "PROBEUSERTEXTQX"
_PROBE_SYSTEM = "PROBESYSTEMTEXTQZ"


def check_prompt_format(prompt_format: str) -> str:
    """Return ``prompt_format`` if it is ``"tulu"`` or ``"chat_template"``, else raise ``ValueError``."""
    if prompt_format not in PROMPT_FORMATS:
        raise ValueError(f"prompt_format must be one of {PROMPT_FORMATS}, got {prompt_format!r}")
    return prompt_format


def resolve_prompt_format(tokenizer, prompt_format: str | None) -> str:
    """``None`` -> ``"chat_template"`` when the tokenizer has one, else ``"tulu"``.

    Raises:
        ValueError: unknown format, or ``"chat_template"`` for a tokenizer without a chat template.
    """
    if prompt_format is None:
        return "chat_template" if getattr(tokenizer, "chat_template", None) else "tulu"
    check_prompt_format(prompt_format)
    if prompt_format == "chat_template" and not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt_format='chat_template' but the tokenizer has no chat template; use 'tulu'")
    return prompt_format


# --------------------------------------------------------------------------- tulu


def tulu_text(messages: list[dict], eos_token: str, add_generation_prompt: bool = False) -> str:
    """Render ``messages`` in the Tulu format (official LESS ``concat_messages``).

    Args:
        messages: ``[{"role": "system"|"user"|"assistant", "content": str}, ...]``.
        eos_token: the tokenizer's EOS text, appended to every assistant message.
        add_generation_prompt: end with ``"<|assistant|>\\n"`` (the prompt before a response).

    Raises:
        ValueError: an unknown role.
    """
    parts = []
    for message in messages:
        role, content = message["role"], message["content"].strip()
        if role == "system":
            parts.append(TULU_SYSTEM + content + "\n")
        elif role == "user":
            parts.append(TULU_USER + content + "\n")
        elif role == "assistant":
            parts.append(TULU_ASSISTANT + content + eos_token + "\n")
        else:
            raise ValueError(f"unknown message role {role!r}")
    if add_generation_prompt:
        parts.append(TULU_ASSISTANT)
    return "".join(parts)


# --------------------------------------------------------------------------- chat templates


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def injected_system_block(tokenizer) -> str:
    """The text a chat template inserts when the conversation has no system message ("" if none).

    Found by rendering one probe user turn with and without a probe system message: with a system message
    ``S`` the text is ``block(S) + user_part``; without one it is ``injected + user_part``. A leading BOS
    text is not part of the block unless it also opens the user turn. The result is cached on the tokenizer.
    """
    cached = getattr(tokenizer, "_ds_injected_system_block", None)
    if cached is not None:
        return cached
    block = ""
    user = [{"role": "user", "content": _PROBE_USER}]
    system = [{"role": "system", "content": _PROBE_SYSTEM}]
    try:
        without = _render(tokenizer, user, False)
        with_system = _render(tokenizer, system + user, False)
        system_only = _render(tokenizer, system, False)
    except Exception:  # noqa: BLE001 - templates that reject a system role cannot inject one either
        without = with_system = system_only = ""
    if with_system.startswith(system_only) and _PROBE_SYSTEM in system_only:
        user_part = with_system[len(system_only) :]
        if user_part and without.endswith(user_part):
            block = without[: len(without) - len(user_part)]
            # a sequence-level BOS written by the template stays; a "BOS" that opens every turn (SmolLM2's
            # bos_token is "<|im_start|>") belongs to the block
            bos = getattr(tokenizer, "bos_token", None) or ""
            if bos and block.startswith(bos) and bos not in user_part:
                block = block[len(bos) :]
    try:
        tokenizer._ds_injected_system_block = block
    except AttributeError:  # pragma: no cover - tokenizers that forbid new attributes
        pass
    return block


def chat_template_text(tokenizer, messages: list[dict], add_generation_prompt: bool = False) -> str:
    """The chat template's rendering of ``messages`` without an injected default system prompt.

    When ``messages`` has no system message and the template inserts one (:func:`injected_system_block`),
    that block is removed; a system message present in the data is kept.

    Raises:
        ValueError: the tokenizer has no chat template.
    """
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template")
    text = _render(tokenizer, messages, add_generation_prompt)
    if any(m["role"] == "system" for m in messages):
        return text
    block = injected_system_block(tokenizer)
    if block:
        bos = getattr(tokenizer, "bos_token", None) or ""
        if text.startswith(block):
            text = text[len(block) :]
        elif bos and text.startswith(bos + block):
            text = bos + text[len(bos) + len(block) :]
    return text


def render_prompt(tokenizer, messages: list[dict], prompt_format: str | None = None) -> str:
    """Text of ``messages`` followed by the assistant header, ready for the assistant's first token."""
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    if fmt == "tulu":
        return tulu_text(messages, tokenizer.eos_token or "", add_generation_prompt=True)
    return chat_template_text(tokenizer, messages, add_generation_prompt=True)


def render_conversation(tokenizer, messages: list[dict], prompt_format: str | None = None) -> tuple[str, int]:
    """Full text of a conversation ending with an assistant message, and where that message starts.

    Returns:
        ``(text, response_start)``: ``text[response_start:]`` is the final assistant turn as the model must
        produce it (content, EOS/end-of-turn text), ``text[:response_start]`` the prompt with the header.
    """
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    prompt = render_prompt(tokenizer, messages[:-1], fmt)
    if fmt == "tulu":
        return tulu_text(messages, tokenizer.eos_token or ""), len(prompt)
    full = chat_template_text(tokenizer, messages)
    if full.startswith(prompt):
        return full, len(prompt)
    # templates that rewrite earlier turns once a reply follows: the reply and EOS after the prompt
    return prompt + messages[-1]["content"] + (tokenizer.eos_token or ""), len(prompt)


def add_special_tokens_for(prompt_format: str) -> bool:
    """Whether tokenisation adds the tokenizer's special tokens (BOS): yes for ``tulu`` (the official
    ``tokenizer(text)`` call), no for ``chat_template`` (templates write their own BOS into the text)."""
    return check_prompt_format(prompt_format) == "tulu"


# --------------------------------------------------------------------------- LESS validation examples


def _mmlu_subject(subtask: str) -> str:
    # official format_subject: " " + each "_"-separated word, so "about" is followed by two spaces
    return "".join(" " + word for word in subtask.split("_"))


def mmlu_question_text(row: dict) -> str:
    """Official LESS MMLU validation query (``get_mmlu_dataset``): header, question, options, "Answer:"."""
    text = f"The following are multiple choice questions (with answers) about {_mmlu_subject(row['subtask'])}.\n\n"
    text += row["question"]
    for i, choice in enumerate(row["choices"]):
        text += f"\n{LETTERS[i]}. {choice}"
    return text + "\nAnswer:"


def bbh_question_text(row: dict) -> str:
    """A BBH question as in the BBH prompts LESS uses: the question, then ``Options:`` and ``(A) …`` lines."""
    options = "\n".join(f"({LETTERS[i]}) {choice}" for i, choice in enumerate(row["choices"]))
    return f"{row['question'].strip()}\nOptions:\n{options}"


def validation_example(
    row: dict, context_rows: list[dict] | None = None
) -> tuple[list[dict], str, str, int]:
    """One validation question in LESS's official task format.

    MMLU (``get_mmlu_dataset``): user turn = "The following are multiple choice questions (with answers)
    about {subject}." + question + "A. …" options + "Answer:"; assistant turn = "The answer is:" then
    " {letter}". BBH (``get_bbh_dataset``): user turn = the other exemplars of the task as in-context examples
    ("{question}\\nA: ({letter})\\n\\n" each; the official file holds 3 per task and uses the other 2), then
    the question; assistant turn = "A:" then " ({letter})". The official BBH exemplars are chain-of-thought
    answers with a task description, which the shipped BIG-bench data lacks: here the answer is the option.

    Args:
        row: ``{"task": "mmlu"|"bbh", "subtask", "question", "choices", "answer": int}``.
        context_rows: BBH in-context exemplars (ignored for MMLU).

    Returns:
        ``(user_messages, assistant_prefix, completion, letter_offset)``: the assistant writes
        ``assistant_prefix + completion``; ``completion[letter_offset]`` is the answer letter.

    Raises:
        ValueError: unknown task or an answer index outside the choices.
    """
    answer = int(row["answer"])
    if not 0 <= answer < len(row["choices"]):
        raise ValueError(f"row {row.get('id')}: answer {answer} outside {len(row['choices'])} choices")
    letter = LETTERS[answer]
    if row["task"] == "mmlu":
        return [{"role": "user", "content": mmlu_question_text(row)}], "The answer is:", f" {letter}", 1
    if row["task"] == "bbh":
        icl = "".join(
            f"{bbh_question_text(c)}\nA: ({LETTERS[int(c['answer'])]})\n\n" for c in (context_rows or [])
        )
        return [{"role": "user", "content": icl + bbh_question_text(row)}], "A:", f" ({letter})", 2
    raise ValueError(f"unknown target task {row['task']!r}: expected 'mmlu' or 'bbh'")


def validation_text(
    tokenizer,
    row: dict,
    prompt_format: str,
    labels: str = "answer_letter",
    context_rows: list[dict] | None = None,
) -> tuple[str, tuple[int, int]]:
    """Render a validation example and locate the characters whose tokens are labelled.

    ``labels="answer_letter"`` (official ``get_validation_dataset.py``): the text ends right after the
    completion (Tulu: ``"<|user|>\\n{query}\\n<|assistant|>\\n{prefix} {letter}"``) and only the letter is
    labelled. ``labels="full_turn"``: the whole assistant turn after the prefix is labelled, completion and
    end-of-turn text (Tulu: EOS and newline; chat template: its end-of-turn tokens).

    Returns:
        ``(text, span)``: the labelled character span ``[start, end)`` of ``text``.

    Raises:
        ValueError: unknown ``labels`` or prompt format, or a bad row (see :func:`validation_example`).
    """
    if labels not in VALIDATION_LABELS:
        raise ValueError(f"validation_labels must be one of {VALIDATION_LABELS}, got {labels!r}")
    user, prefix, completion, letter_offset = validation_example(row, context_rows)
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    if fmt == "tulu":
        head = tulu_text(user, "", add_generation_prompt=True) + prefix
        full = tulu_text(user + [{"role": "assistant", "content": prefix + completion}], tokenizer.eos_token or "")
    else:
        head = chat_template_text(tokenizer, user, add_generation_prompt=True) + prefix
        full = chat_template_text(tokenizer, user + [{"role": "assistant", "content": prefix + completion}])
    if not full.startswith(head + completion):
        full = head + completion + (tokenizer.eos_token or "")
    start = len(head)
    if labels == "answer_letter":
        return head + completion, (start + letter_offset, start + letter_offset + 1)
    return full, (start, len(full))
