"""Text embeddings from a causal LM: mean of the last hidden states over the real (non-padding) tokens.

DiverseEvol (arXiv 2311.08182, Sec. 3.2; official ``EvolSchedule.get_embeddings_all_data``) embeds every pool item
with the previous round's model as the mean over all token positions of the last-layer hidden states of the full
training text (prompt + response + EOS), truncated to ``model_max_length``. The official code runs batch size 1
without padding; here examples are batched (length-sorted) and padded on the right, and the mean counts only the
tokens of ``attention_mask``, so a text's embedding does not depend on its batch (tested).

Only the backbone runs (``LlamaModel`` inside ``LlamaForCausalLM``): the vocabulary projection is never computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from data_selection.llm.models import CausalLM, length_sorted_batches
from data_selection.llm.prompts import add_special_tokens_for, render_conversation, resolve_prompt_format


def backbone(model: torch.nn.Module) -> torch.nn.Module:
    """The transformer body of a causal LM (no LM head), unwrapping a PEFT model first.

    LoRA layers are injected into the base model's own modules, so the body of a PEFT-wrapped model includes the
    adapter.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    body = getattr(inner, "base_model", inner)
    return body


@torch.no_grad()
def mean_pooled_hidden_states(
    model: torch.nn.Module,
    tokenizer,
    texts: list[str],
    max_length: int,
    batch_size: int = 8,
    add_special_tokens: bool = True,
    max_padding_fraction: float = 1.0,
) -> np.ndarray:
    """Mean of the last hidden states over each text's tokens (padding excluded).

    Args:
        model: a causal LM (or a PEFT wrapper of one); only its backbone is run.
        tokenizer: its tokenizer (needs a pad token).
        texts: the texts, in order.
        max_length: tokens kept per text (the rest is cut from the right, as the official ``truncation=True``).
        batch_size: texts per forward pass (length-sorted, right-padded).
        add_special_tokens: let the tokenizer add BOS etc.
        max_padding_fraction: padding cap of a batch (``models.length_sorted_batches``); 1 = no cap.

    Returns:
        float32 array (len(texts), hidden_size), row i the embedding of ``texts[i]``.

    Raises:
        ValueError: no texts, a text with no tokens, ``max_length`` or ``batch_size`` < 1.
    """
    if not texts:
        raise ValueError("no texts to embed")
    if max_length < 1 or batch_size < 1:
        raise ValueError(f"max_length and batch_size must be >= 1, got {max_length}, {batch_size}")
    body = backbone(model)
    device = next(body.parameters()).device
    encoded = [tokenizer(t, add_special_tokens=add_special_tokens, truncation=True, max_length=max_length)["input_ids"] for t in texts]
    empty = [i for i, ids in enumerate(encoded) if not ids]
    if empty:
        raise ValueError(f"text(s) {empty[:5]} have no tokens")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out = None
    batches = length_sorted_batches([len(ids) for ids in encoded], batch_size, max_padding_fraction)
    for batch in tqdm(batches, desc="embedding", unit="batch", leave=False, disable=len(batches) < 4):
        width = max(len(encoded[i]) for i in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
            mask[row, : len(encoded[i])] = 1
        ids, mask = ids.to(device), mask.to(device)
        hidden = body(input_ids=ids, attention_mask=mask).last_hidden_state.float()  # (b, width, hidden)
        weights = mask.unsqueeze(-1).float()
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1)
        if out is None:
            out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
        out[np.asarray(batch)] = pooled.cpu().numpy()
    return out


def embed_records(
    lm: CausalLM,
    records: list[dict],
    max_length: int,
    batch_size: int = 8,
    lora_params: dict[str, Any] | None = None,
    adapter_state: dict[str, torch.Tensor] | None = None,
    prompt_format: str | None = None,
) -> np.ndarray:
    """Embed normalised records (``messages``) as they are trained on, with the base model plus an optional adapter.

    The text is the full training conversation (:func:`render_conversation`: prompt, response, EOS), as DiverseEvol
    embeds ``PROMPT_DICT`` + output + EOS. ``lm.model`` is left unchanged (the adapter is merged into a copy).

    Returns:
        float32 array (len(records), hidden_size).
    """
    from data_selection.llm.evaluation import adapted_model

    fmt = resolve_prompt_format(lm.tokenizer, prompt_format)
    texts = [render_conversation(lm.tokenizer, r["messages"], fmt)[0] for r in records]
    with adapted_model(lm, lora_params, adapter_state, merge=True) as model:
        model.eval()
        return mean_pooled_hidden_states(model, lm.tokenizer, texts, max_length, batch_size, add_special_tokens_for(fmt))


def conversation_text(messages: list[dict]) -> str:
    """One string per conversation: ``"{role}: {content}"`` per turn, one turn a line (the LESS predictor's features).

    Raises:
        ValueError: an empty conversation.
    """
    if not messages:
        raise ValueError("an empty conversation has no text to embed")
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def mean_hidden_states(lm: CausalLM, texts: list[str], batch_size: int = 8, max_length: int = 128) -> np.ndarray:
    """The base model's last hidden state averaged over each text's unpadded tokens (:func:`mean_pooled_hidden_states`
    on ``lm``'s model in eval mode; its training mode is restored).

    Returns:
        float32 array (n, hidden_size).
    """
    was_training = lm.model.training
    lm.model.eval()
    try:
        return mean_pooled_hidden_states(lm.model, lm.tokenizer, texts, int(max_length), int(batch_size))
    finally:
        lm.model.train(was_training)
