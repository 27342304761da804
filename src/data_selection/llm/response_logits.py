"""Output-head logits at the labelled (response) positions only.

Every loss in this project is a next-token loss over the response tokens (LoRA fine-tune, LESS per-example
gradients, Small2Large perplexities). ``model(...).logits`` projects *every* position onto the vocabulary, prompt and
padding included: for Gemma-3-270M (262,144 tokens x 640) the output head alone is 168 M multiply-adds per position,
more than the 18 decoder layers together. Running the decoder once and applying the head to the labelled positions
only gives the same losses and gradients (the head is position-wise) for a fraction of the cost: on 2 CPU cores a
Gemma-3-270M forward+backward of 4 x 160 tokens with 60 response tokens each took 9.0-10.6 s with full logits and
4.4-4.7 s this way (``/tmp`` micro-benchmark of 2026-12-02, recorded in ``docs/scaling.md``).

The split is used only for architectures whose causal-LM forward is exactly ``head(decoder(x))`` up to Gemma-2/3's
optional final-logit soft-capping (:data:`PLAIN_HEAD_MODEL_TYPES`); any other model falls back to the full logits
and a gather, with identical results.
"""

from __future__ import annotations

import torch

from data_selection.llm.models import IGNORE_INDEX

#: ``config.model_type`` values whose ``ForCausalLM.forward`` is ``lm_head(model(...).last_hidden_state)`` (then
#: ``tanh`` soft-capping when ``config.final_logit_softcapping`` is set): checked against the transformers 5 sources
#: and tested on SmolLM2 (llama) and Gemma-3-270M (gemma3_text).
PLAIN_HEAD_MODEL_TYPES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "phi3", "smollm3", "olmo", "olmo2"}
)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The causal LM inside a PEFT wrapper (LoRA layers stay injected), or ``model`` itself."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def split_head(model: torch.nn.Module):
    """``(decoder, head, softcap)`` when ``model``'s logits are ``head(decoder(x).last_hidden_state)``, else ``None``.

    ``softcap`` is ``config.final_logit_softcapping`` (``None`` when off). A model wrapped for distributed training
    (DDP, DeepSpeed) is not unwrapped here: callers pass the plain (or PEFT) module.
    """
    base = _unwrap(model)
    config = getattr(base, "config", None)
    if config is None or getattr(config, "model_type", None) not in PLAIN_HEAD_MODEL_TYPES:
        return None
    get_decoder = getattr(base, "get_decoder", None)
    get_head = getattr(base, "get_output_embeddings", None)
    if not callable(get_decoder) or not callable(get_head):
        return None
    decoder, head = get_decoder(), get_head()
    if decoder is None or head is None:
        return None
    return decoder, head, getattr(config, "final_logit_softcapping", None)


def labelled_logits(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Next-token logits at the positions whose next token is labelled (``labels[:, 1:] != -100``).

    Position t predicts token t + 1 (the usual causal shift), so the kept positions are those t < T - 1 with
    ``labels[:, t + 1] != -100``; prompt and padding positions never reach the output head.

    Args:
        model: a causal LM, optionally PEFT-wrapped (gradients flow as usual).
        input_ids, attention_mask, labels: (B, T) int64 on the model's device.

    Returns:
        ``(logits, targets, rows)``: (M, V) logits in the model's dtype, (M,) int64 target token ids, and (M,) int64
        batch row of every kept position, in row-major order; M = number of labelled next tokens.
    """
    keep = labels[:, 1:] != IGNORE_INDEX
    split = split_head(model)
    if split is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][keep]
    else:
        decoder, head, softcap = split
        hidden = decoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = head(hidden[:, :-1][keep])
        if softcap is not None:
            logits = torch.tanh(logits / softcap) * softcap
    rows = keep.nonzero()[:, 0]
    return logits, labels[:, 1:][keep], rows


def per_example_response_nll(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    labels: torch.Tensor,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Mean response NLL (nats per labelled token) of every row: shape (B,), ``dtype``; NaN for a row without labels.

    The log-softmax is taken in ``dtype`` (float64 where a 49k-262k vocabulary's float32 rounding matters).
    """
    logits, targets, rows = labelled_logits(model, input_ids, attention_mask, labels)
    token_nll = torch.nn.functional.cross_entropy(logits.to(dtype), targets, reduction="none")
    batch = input_ids.shape[0]
    total = torch.zeros(batch, dtype=dtype, device=token_nll.device).index_add(0, rows, token_nll)
    counts = torch.zeros(batch, dtype=dtype, device=token_nll.device).index_add(0, rows, torch.ones_like(token_nll))
    return total / counts
