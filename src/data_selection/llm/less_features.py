"""LESS gradient features: per-checkpoint, per-example projected and L2-normalised LoRA gradients.

Pool examples get Adam-preconditioned gradients Γ(z), validation examples plain SGD gradients ∇ℓ(z')
(LESS §3.1-3.2; ``get_train_lora_grads.sh`` with ``adam``, ``get_eval_lora_grads.sh`` with ``sgd``).
Both are projected with the same seeded projector and normalised, so their inner product is the cosine of
LESS Eq. 3.

Inputs are encoded as official LESS does: pool examples in the chosen ``prompt_format`` (Tulu by default,
``get_training_dataset.py``), validation questions in the official task format with only the answer letter
labelled (``get_validation_dataset.py``; :func:`encode_validation`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from data_selection.core.less import adam_preconditioned_gradient, l2_normalize, ordered_checkpoint_weights
from data_selection.core.projection import make_projector
from data_selection.llm.gradients import LoraGradientCollector
from data_selection.llm.models import (
    IGNORE_INDEX,
    CausalLM,
    encode_example,
    encode_labelled_text,
    length_sorted_batches,
    pad_batch,
)
from data_selection.llm.prompts import add_special_tokens_for, resolve_prompt_format, validation_text
from data_selection.llm.throughput import decoder_flop_counts, pass_report
from data_selection.llm.training import attach_lora

logger = logging.getLogger(__name__)


def encode_pool(tokenizer, conversations: list[list[dict]], max_length: int, prompt_format: str) -> list[dict]:
    """Encode pool conversations for gradients (:func:`~data_selection.llm.models.encode_example`).

    Raises:
        ValueError: no conversations, a bad conversation or prompt format.
    """
    if not conversations:
        raise ValueError("no examples to compute gradients for")
    return [encode_example(tokenizer, c, max_length, prompt_format) for c in conversations]


def bbh_context(rows: list[dict], index: int, shots: int) -> list[dict]:
    """In-context exemplars for BBH row ``index``: up to ``shots`` other rows of the same subtask, in order
    (the official 3-shot file uses, for each exemplar, the other two)."""
    row = rows[index]
    if row["task"] != "bbh" or shots <= 0:
        return []
    same = [r for i, r in enumerate(rows) if i != index and r["task"] == "bbh" and r["subtask"] == row["subtask"]]
    return same[:shots]


def encode_validation(
    tokenizer,
    rows: list[dict],
    max_length: int,
    prompt_format: str,
    labels: str = "answer_letter",
    bbh_shots: int = 2,
) -> list[dict]:
    """Encode target validation questions in the official LESS task format (``get_validation_dataset.py``).

    MMLU: "The following are multiple choice questions (with answers) about {subject}." + question +
    options + "Answer:", then the assistant's "The answer is: {letter}"; BBH: the other exemplars of the task
    and the question, then "A: ({letter})" (see :func:`data_selection.llm.prompts.validation_example`).
    ``labels="answer_letter"`` (official) labels only the letter token; ``"full_turn"`` the whole completion
    with its end-of-turn tokens.

    Args:
        rows: target rows ``{task, subtask, question, choices, answer}``.
        max_length: token budget per example (the prompt is cut from the left).
        prompt_format: ``"tulu"`` or ``"chat_template"``.
        bbh_shots: in-context exemplars per BBH question (official: 2).

    Returns:
        one ``{"input_ids", "labels", "truncated"}`` per row, in order.

    Raises:
        ValueError: no rows, bad labels/format, or a bad row.
    """
    if not rows:
        raise ValueError("no validation questions to compute gradients for")
    if int(bbh_shots) < 0:
        raise ValueError(f"bbh_shots must be >= 0, got {bbh_shots}")
    fmt = resolve_prompt_format(tokenizer, prompt_format)
    encoded = []
    for i, row in enumerate(rows):
        text, span = validation_text(tokenizer, row, fmt, labels, bbh_context(rows, i, int(bbh_shots)))
        encoded.append(encode_labelled_text(tokenizer, text, span, max_length, add_special_tokens_for(fmt)))
    return encoded


def collect_features(
    lm: CausalLM,
    encoded: list[dict],
    checkpoints: dict[str, dict],
    lora_params: dict[str, Any],
    params: dict[str, Any],
    gradient_type: str,
    desc: str = "gradients",
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Projected, normalised gradient features of the ``encoded`` examples at every checkpoint.

    Args:
        lm: the base model (left unchanged).
        encoded: examples from :func:`encode_pool` or :func:`encode_validation` (``input_ids``, ``labels``).
        checkpoints: ``{name: {"tensors": {...lora..., "exp_avg.<p>", "exp_avg_sq.<p>"}, "meta": {...}}}``
            as stored by the warmup node; processed in recorded epoch order.
        lora_params: LoRA shape of the warmup run.
        params: ``max_length, batch_size, projection, projection_dim, projection_seed, adam_variant,
            adam_beta1, adam_beta2, adam_eps`` and optional ``projection_options`` and ``max_padding_fraction``
            (length buckets: a batch closes before its padding share exceeds it; 1 = no cap).
        gradient_type: ``"adam"`` (pool) or ``"sgd"`` (validation).

    Returns:
        (features, timings): ``{checkpoint name: float32 (n, projection_dim)}`` with unit rows;
        timings in seconds for ``forward_backward`` and ``projection``, examples/s, and the pass's tokens/s, padding
        fraction and share of this machine's compute floor (:func:`data_selection.llm.throughput.pass_report`).

    Raises:
        ValueError: unknown gradient type or no examples.
    """
    if gradient_type not in ("adam", "sgd"):
        raise ValueError(f"gradient_type must be 'adam' or 'sgd', got {gradient_type!r}")
    if not encoded:
        raise ValueError("no examples to compute gradients for")
    order, _ = ordered_checkpoint_weights({n: b["meta"] for n, b in checkpoints.items()})
    batches = length_sorted_batches(
        [len(e["input_ids"]) for e in encoded],
        int(params["batch_size"]),
        float(params.get("max_padding_fraction", 1.0)),
    )
    features: dict[str, np.ndarray] = {}
    t_grad = t_proj = 0.0
    projector = None
    for name in order:
        bundle = checkpoints[name]
        lora = {k[len("lora.") :]: v for k, v in bundle["tensors"].items() if k.startswith("lora.")}
        model = attach_lora(lm, lora_params, adapter_state=lora)
        model.eval()  # no LoRA dropout: features are a deterministic function of the checkpoint
        try:
            with LoraGradientCollector(model) as collector:
                if projector is None:
                    projector = make_projector(
                        params["projection"],
                        collector.dim,
                        int(params["projection_dim"]),
                        seed=int(params["projection_seed"]),
                        **dict(params.get("projection_options") or {}),
                    )
                device = next(model.parameters()).device
                if gradient_type == "adam":
                    m = torch.cat([bundle["tensors"][f"exp_avg.{n}"].flatten() for n in collector.names]).float().to(device)
                    v = torch.cat([bundle["tensors"][f"exp_avg_sq.{n}"].flatten() for n in collector.names]).float().to(device)
                out = np.zeros((len(encoded), projector.output_dim), dtype=np.float32)
                for batch_idx in tqdm(batches, desc=f"{desc} {name}", leave=False):
                    batch = pad_batch([encoded[i] for i in batch_idx], lm.tokenizer.pad_token_id, side="right")
                    batch = {key: tensor.to(device) for key, tensor in batch.items()}
                    start = time.perf_counter()
                    grads = collector.gradients(batch["input_ids"], batch["labels"], batch["attention_mask"])
                    if gradient_type == "adam":
                        grads = adam_preconditioned_gradient(
                            grads,
                            m,
                            v,
                            beta1=float(params.get("adam_beta1", 0.9)),
                            beta2=float(params.get("adam_beta2", 0.999)),
                            eps=float(params.get("adam_eps", 1e-8)),
                            variant=params.get("adam_variant", "official"),
                            step=int(bundle["meta"].get("step", 0)),
                        )
                    t_grad += time.perf_counter() - start
                    start = time.perf_counter()
                    projected = l2_normalize(projector.project(grads))
                    t_proj += time.perf_counter() - start
                    out[batch_idx] = projected.cpu().numpy()
        finally:
            lm.model = model.unload()
        features[name] = out
    n_total = len(encoded) * len(checkpoints)
    lengths = [len(e["input_ids"]) for e in encoded]
    labelled = sum(sum(1 for t in e["labels"][1:] if t != IGNORE_INDEX) for e in encoded)
    body, head = decoder_flop_counts(lm.model)
    tokens = sum(lengths) * len(checkpoints)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches) * len(checkpoints)
    # forward + activation backward through the decoder (4 x P per token), the head at the labelled positions
    flop = float(4 * body * tokens + 4 * head * labelled * len(checkpoints))
    timings = {
        "forward_backward_s": t_grad,
        "projection_s": t_proj,
        "examples_per_s": n_total / max(t_grad + t_proj, 1e-9),
        "tokens": tokens,
        "padded_tokens": padded,
        "flop": flop,
        "batches": len(batches) * len(checkpoints),
        **pass_report(t_grad + t_proj, tokens, padded, flop),
    }
    logger.info(
        "%s: %d examples x %d checkpoints, forward+backward %.1f s, projection %.1f s (%.1f%%)",
        desc, len(encoded), len(checkpoints), t_grad, t_proj, 100 * t_proj / max(t_grad, 1e-9),
    )
    return features, timings
