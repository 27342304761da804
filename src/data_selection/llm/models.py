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

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100

#: prompt format for models without a chat template (open-instruct / Tulu, as LESS uses)
PLAIN_USER, PLAIN_ASSISTANT = "<|user|>\n", "<|assistant|>\n"


@dataclass
class CausalLM:
    """A model and its tokenizer, travelling together between nodes."""

    model: torch.nn.Module
    tokenizer: object
    name: str

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
            return CausalLM(_prepare(model).to(resolve_device(device)), _prepare_tokenizer(tokenizer), name)

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
    return CausalLM(_prepare(model).to(resolve_device(device)), _prepare_tokenizer(tokenizer), name)


def _prepare(model):
    model.eval()
    model.config.use_cache = False
    return model


def _prepare_tokenizer(tokenizer):
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def format_prompt(tokenizer, messages: list[dict]) -> str:
    """Text of a conversation up to (and including) the assistant header, ready for the next token.

    Uses the tokenizer's chat template when it has one, else the open-instruct format
    ``<|user|>\\n{content}\\n<|assistant|>\\n``.
    """
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    parts = []
    for message in messages:
        if message["role"] == "assistant":
            parts.append(PLAIN_ASSISTANT + message["content"] + "\n")
        else:
            parts.append(PLAIN_USER + message["content"] + "\n")
    return "".join(parts) + PLAIN_ASSISTANT


def encode_example(tokenizer, messages: list[dict], max_length: int) -> dict | None:
    """Token ids and labels for one conversation, the loss on the final assistant turn only.

    The prompt (everything before the final assistant message) is masked with -100. When prompt + response
    exceed ``max_length``, the response keeps at least ``max_length // 4`` tokens (or all of it if shorter)
    and the prompt is cut from the left (its beginning is dropped), so no example loses its labels.

    Args:
        messages: ``[{"role", "content"}, ...]`` ending with an assistant message.
        max_length: maximum total tokens, >= 8.

    Returns:
        ``{"input_ids": list[int], "labels": list[int], "truncated": bool}``.

    Raises:
        ValueError: the conversation does not end with a non-empty assistant message.
    """
    if not messages or messages[-1]["role"] != "assistant" or not messages[-1]["content"]:
        raise ValueError("a training example must end with a non-empty assistant message")
    if max_length < 8:
        raise ValueError(f"max_length must be >= 8, got {max_length}")
    prompt = format_prompt(tokenizer, messages[:-1])
    end = tokenizer.eos_token or ""
    if getattr(tokenizer, "chat_template", None):
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        response = full[len(prompt) :] if full.startswith(prompt) else messages[-1]["content"] + end
    else:
        response = messages[-1]["content"] + end
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    truncated = len(prompt_ids) + len(response_ids) > max_length
    if truncated:
        keep_response = min(len(response_ids), max(max_length - len(prompt_ids), max_length // 4))
        response_ids = response_ids[:keep_response]
        prompt_ids = prompt_ids[len(prompt_ids) - (max_length - keep_response) :] if max_length > keep_response else []
    return {
        "input_ids": prompt_ids + response_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + response_ids,
        "truncated": truncated,
    }


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


def length_sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding); deterministic."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
