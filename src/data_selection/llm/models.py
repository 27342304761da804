"""Loading causal LMs offline, and turning chat records into token ids with response-only labels.

Models come from a local folder (a package asset, a converted cache, a user's checkpoint) or, on machines
with network access, a Hugging Face id. A GGUF file is de-quantised once and cached as safetensors: loading
SmolLM2-135M from GGUF takes ~30 s on 2 cores, from the cache ~0.2 s.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from data_selection.llm.prompts import (
    TULU_ASSISTANT,
    TULU_USER,
    add_special_tokens_for,
    render_conversation,
    render_prompt,
    resolve_prompt_format,
)

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100

#: prompt format for models without a chat template (open-instruct / Tulu, as LESS uses)
PLAIN_USER, PLAIN_ASSISTANT = TULU_USER, TULU_ASSISTANT


@dataclass
class CausalLM:
    """A model and its tokenizer, travelling together between nodes."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    #: a folder (or hub id) ``from_pretrained`` reloads the same weights and tokenizer from; ``None`` if unknown.
    #: A multi-process training launch (``llm.launch``) loads each rank's copy from it.
    path: str | None = None

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def _fingerprint(source: str, gguf_file: str | None, dtype: str) -> str:
    stat = ""
    target = Path(source, gguf_file) if gguf_file else Path(source)
    if target.exists():
        st = target.stat()
        stat = f"{st.st_size}:{int(st.st_mtime)}"
    return hashlib.sha256(json.dumps([source, gguf_file, dtype, stat]).encode()).hexdigest()[:16]


def _torch_dtype(dtype: str) -> torch.dtype:
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unsupported dtype {dtype!r}; use float32, bfloat16 or float16") from None


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; any other value is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_causal_lm(
    source: str,
    *,
    gguf_file: str | None = None,
    cache_dir: str | None = None,
    dtype: str = "float32",
    device: str = "auto",
):
    """Load a causal LM and tokenizer without touching the network unless ``source`` is a hub id.

    Args:
        source: local folder, or a Hugging Face id (``org/name``) on a machine with network access.
        gguf_file: GGUF file name inside ``source``; de-quantised to ``dtype``.
        cache_dir: folder for the converted safetensors copy; reused while ``source`` is unchanged.
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"``.
        device: ``"auto"`` (CUDA if available), ``"cpu"`` or ``"cuda[:n]"``.

    Returns:
        :class:`CausalLM` with the model in eval mode.

    Raises:
        FileNotFoundError: ``source`` is a path (or names a GGUF file) that does not exist.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = _torch_dtype(dtype)
    source = os.path.expanduser(str(source))
    is_local = Path(source).exists()
    if not is_local and (gguf_file or source.startswith((".", "/", "~")) or source.count("/") != 1):
        raise FileNotFoundError(
            f"model source {source!r} does not exist (expected a local folder or a Hugging Face id 'org/name')"
        )
    if gguf_file and not Path(source, gguf_file).exists():
        raise FileNotFoundError(f"GGUF file {gguf_file!r} not found in {source}")
    name = Path(cache_dir).name if cache_dir else Path(source).name
    fingerprint = _fingerprint(source, gguf_file, dtype)
    if cache_dir:
        cache = Path(cache_dir)
        marker = cache / "source.json"
        if marker.exists() and json.loads(marker.read_text()).get("fingerprint") == fingerprint:
            tokenizer = AutoTokenizer.from_pretrained(cache)
            model = AutoModelForCausalLM.from_pretrained(cache, dtype=torch_dtype)
            return CausalLM(
                _prepare(model).to(resolve_device(device)), _prepare_tokenizer(tokenizer), name, path=str(cache)
            )

    kwargs = {"gguf_file": gguf_file} if gguf_file else {}
    logger.info("Loading %s%s (converted once, then cached)", source, f" / {gguf_file}" if gguf_file else "")
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype, **kwargs)
    if gguf_file:
        # A GGUF-loaded model is flagged as quantised and refuses save_pretrained; rebuild a plain one.
        plain = AutoModelForCausalLM.from_config(model.config, dtype=torch_dtype)
        if hasattr(plain.config, "quantization_config"):
            del plain.config.quantization_config
        plain.load_state_dict(model.state_dict(), strict=True)
        plain.tie_weights()
        model = plain
    if cache_dir:
        from data_selection.atomic import atomic_directory

        with atomic_directory(cache_dir) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "source.json").write_text(
                json.dumps({"source": source, "gguf_file": gguf_file, "dtype": dtype, "fingerprint": fingerprint})
            )
        logger.info("Cached converted model in %s", cache_dir)
    path = cache_dir if cache_dir else (None if gguf_file else source)
    return CausalLM(_prepare(model).to(resolve_device(device)), _prepare_tokenizer(tokenizer), name, path=path)


def _prepare(model):
    model.eval()
    model.config.use_cache = False
    return model


def _prepare_tokenizer(tokenizer):
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def format_prompt(tokenizer, messages: list[dict], prompt_format: str | None = None) -> str:
    """Text of a conversation up to (and including) the assistant header, ready for the next token.

    Args:
        messages: ``[{"role", "content"}, ...]``.
        prompt_format: ``"tulu"`` (``<|user|>\\n{content}\\n<|assistant|>\\n``, official LESS / open-instruct),
            ``"chat_template"`` (the tokenizer's template) or ``None``: the chat template when the tokenizer
            has one, else Tulu. A chat template never adds a default system prompt that ``messages`` lacks
            (see :func:`data_selection.llm.prompts.chat_template_text`).

    Raises:
        ValueError: unknown format, or ``"chat_template"`` without a template.
    """
    return render_prompt(tokenizer, messages, prompt_format)


def _leading_special_count(tokenizer, ids: list[int], offsets: list[tuple[int, int]] | None) -> int:
    specials = set(getattr(tokenizer, "all_special_ids", []) or [])
    n = 0
    while n < len(ids) and ids[n] in specials and (offsets is None or offsets[n][1] <= offsets[n][0]):
        n += 1
    return n


def encode_labelled_text(
    tokenizer,
    text: str,
    label_span: tuple[int, int],
    max_length: int,
    add_special_tokens: bool = False,
) -> dict:
    """Tokenise ``text`` as one string and label the tokens that overlap ``text[label_span[0]:label_span[1]]``.

    Tokenising the whole text once (not prompt and response separately) avoids boundary mismatches. With a
    fast tokenizer a token is labelled when its character offsets overlap the span; added special tokens
    (BOS, zero-width) are never labelled. Without offsets, the official LESS rule is used: the labelled
    tokens are those of ``tokenizer(text[:end])`` beyond the first ``len(tokenizer(text[:start]))``.

    Truncation when longer than ``max_length``: the labelled part keeps at least ``max_length // 4`` tokens
    (or all of it when shorter), the part before it is cut from the left, keeping leading special tokens
    (BOS). Tokens after the span are always dropped: they cannot change a causal LM's loss on the span.

    Args:
        text: the full example text.
        label_span: ``(start, end)`` character offsets, ``0 <= start < end <= len(text)``.
        max_length: maximum total tokens, >= 8.
        add_special_tokens: let the tokenizer add its special tokens (Llama-2's BOS) as official LESS does.

    Returns:
        ``{"input_ids": list[int], "labels": list[int] (-100 outside the span), "truncated": bool}``.

    Raises:
        ValueError: bad span or ``max_length``, or no token falls in the span.
    """
    start, end = label_span
    if not 0 <= start < end <= len(text):
        raise ValueError(f"label span {label_span} outside the text of length {len(text)}")
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length}")
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        mask = [e > s and s < end and e > start for s, e in offsets]
    else:
        ids = list(tokenizer(text, add_special_tokens=add_special_tokens)["input_ids"])
        offsets = None
        first = len(tokenizer(text[:start], add_special_tokens=add_special_tokens)["input_ids"])
        last = len(tokenizer(text[:end], add_special_tokens=add_special_tokens)["input_ids"])
        mask = [first <= i < last for i in range(len(ids))]
    if not any(mask):
        raise ValueError(f"no token covers the labelled characters {text[start:end]!r}")
    first = mask.index(True)
    last = len(mask) - mask[::-1].index(True)
    prompt_ids, response_ids = ids[:first], ids[first:last]
    response_labels = [t if m else IGNORE_INDEX for t, m in zip(response_ids, mask[first:last])]
    truncated = len(ids) > max_length
    if len(prompt_ids) + len(response_ids) > max_length:
        keep_response = min(len(response_ids), max(max_length - len(prompt_ids), max_length // 4))
        response_ids, response_labels = response_ids[:keep_response], response_labels[:keep_response]
        lead = min(_leading_special_count(tokenizer, prompt_ids, offsets), max_length - keep_response)
        budget = max_length - keep_response - lead
        prompt_ids = prompt_ids[:lead] + (prompt_ids[len(prompt_ids) - budget :] if budget > 0 else [])
    return {
        "input_ids": prompt_ids + response_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + response_labels,
        "truncated": truncated,
    }


def encode_example(tokenizer, messages: list[dict], max_length: int, prompt_format: str | None = None) -> dict | None:
    """Token ids and labels for one conversation, the loss on the final assistant turn only.

    The prompt (everything before the final assistant message) is masked with -100. When prompt + response
    exceed ``max_length``, the response keeps at least ``max_length // 4`` tokens (or all of it if shorter)
    and the prompt is cut from the left (its beginning is dropped, special tokens such as BOS kept), so no
    example loses its labels. With ``prompt_format="tulu"`` the tokenizer adds its special tokens (BOS for
    Llama-2), as official LESS's ``encode_with_messages_format`` does; the response is the assistant
    content, EOS and a newline (all labelled, as there). Official LESS labels every assistant turn of a
    multi-turn conversation; here only the last one is.

    Args:
        messages: ``[{"role", "content"}, ...]`` ending with an assistant message.
        max_length: maximum total tokens, >= 8.
        prompt_format: see :func:`format_prompt`.

    Returns:
        ``{"input_ids": list[int], "labels": list[int], "truncated": bool}``.

    Raises:
        ValueError: the conversation does not end with a non-empty assistant message, or a bad format.
    """
    if not messages or messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
        raise ValueError("a training example must end with a non-empty assistant message")
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length}")
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    text, response_start = render_conversation(tokenizer, messages, fmt)
    return encode_labelled_text(
        tokenizer, text, (response_start, len(text)), max_length, add_special_tokens=add_special_tokens_for(fmt)
    )


def pad_batch(examples: list[dict], pad_id: int, side: str = "right") -> dict[str, torch.Tensor]:
    """Stack encoded examples into tensors, padding ``input_ids`` with ``pad_id`` and labels with -100."""
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        sl = slice(0, n) if side == "right" else slice(width - n, width)
        ids[row, sl] = torch.tensor(e["input_ids"])
        labels[row, sl] = torch.tensor(e["labels"])
        mask[row, sl] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def length_sorted_batches(
    lengths: list[int], batch_size: int, max_padding_fraction: float = 1.0
) -> list[list[int]]:
    """Indices grouped into batches of similar length (length buckets); deterministic.

    The indices are sorted by (length, index) and cut into consecutive batches of at most ``batch_size``. With
    ``max_padding_fraction`` < 1 a batch is also closed before the example that would push its padding share,
    ``(rows x longest - sum of lengths) / (rows x longest)``, above the cap, so ragged stretches fall back to
    smaller batches (down to one example, which has no padding) instead of paying for padded tokens.

    Args:
        lengths: token count of every example, >= 0.
        batch_size: the largest batch, >= 1.
        max_padding_fraction: in [0, 1]; 1 disables the cap (batches of exactly ``batch_size`` but the last).

    Returns:
        batches of indices into ``lengths``, every index exactly once, each batch ascending by length.

    Raises:
        ValueError: ``batch_size`` < 1 or ``max_padding_fraction`` outside [0, 1].
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0.0 <= max_padding_fraction <= 1.0:
        raise ValueError(f"max_padding_fraction must be in [0, 1], got {max_padding_fraction}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i in order:
        rows, longest = len(current) + 1, lengths[i]  # sorted ascending: the newcomer is the longest
        padded = rows * longest
        fits = len(current) < batch_size and (
            max_padding_fraction >= 1.0 or padded == 0 or (padded - total - lengths[i]) / padded <= max_padding_fraction
        )
        if current and not fits:
            batches.append(current)
            current, total = [], 0
        current.append(i)
        total += lengths[i]
    if current:
        batches.append(current)
    return batches
