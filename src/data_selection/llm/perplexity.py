"""Per-example response perplexity, and Small2Large's selector training that records it before and after each epoch.

Small2Large (Mekala et al., Findings of ACL 2024, §3; official ``dump_pplxs.py``) fine-tunes the small selector on
the whole pool and records every example's perplexity on its own response before training (P0) and after every
epoch (P1..PE). Here the perplexities come from batched forward passes (length-sorted, right-padded, padding and
prompt tokens ignored), from a ``transformers.TrainerCallback`` at ``on_train_begin`` and ``on_epoch_end``.
"""

from __future__ import annotations

import copy
import logging
import math
import tempfile
import time
from typing import Any, Literal

import numpy as np
import torch

from data_selection.llm.models import IGNORE_INDEX, CausalLM, length_sorted_batches, pad_batch
from data_selection.llm.response_logits import per_example_response_nll
from data_selection.llm.throughput import decoder_flop_counts, pass_report

logger = logging.getLogger(__name__)


@torch.no_grad()
def response_perplexities(
    model, encoded: list[dict], pad_id: int, batch_size: int = 8, max_padding_fraction: float = 1.0
) -> np.ndarray:
    """PPL = exp(mean token NLL over the labelled (response) tokens) of every example, in batches.

    The NLL is taken on the shifted sequence (token t+1 predicted at position t) and averaged over the positions
    whose label is not -100: prompt tokens and padding never count. The log-softmax is taken in float64 at those
    positions only (float32 over a 49k-token vocabulary is off by up to 3e-4 nats per token); the output head is
    applied at those positions only (``response_logits.labelled_logits``). The official ``loss_per_sample`` divides by
    the number of *non-zero* token losses instead of the label mask (Small2Large note, pitfall 7): the two agree
    unless a labelled token has a loss of exactly 0.

    Batches group examples of similar length (less padding) and are right-padded with an attention mask, so a
    batch gives the same values as one example at a time up to float rounding (tested). The model is left in the
    mode it was in.

    Args:
        model: a causal LM (``model(input_ids, attention_mask).logits``: (B, T, V)).
        encoded: ``[{"input_ids": list[int], "labels": list[int]}, ...]`` (see ``models.encode_example``), each
            with at least one labelled token after the first position.
        pad_id: the padding token id.
        batch_size: examples per forward pass, >= 1.
        max_padding_fraction: padding cap of a batch (``models.length_sorted_batches``); 1 = no cap.

    Returns:
        shape (N,) float64 perplexities (>= 1 up to rounding), in the order of ``encoded``.

    Raises:
        ValueError: ``batch_size`` < 1 or an example without labelled tokens.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i, e in enumerate(encoded):
        if not any(label != IGNORE_INDEX for label in e["labels"][1:]):
            raise ValueError(f"example {i} has no labelled response token to score")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = np.empty(len(encoded), dtype=np.float64)
    try:
        for rows in length_sorted_batches([len(e["input_ids"]) for e in encoded], batch_size, max_padding_fraction):
            batch = pad_batch([encoded[i] for i in rows], pad_id, side="right")
            nll = per_example_response_nll(
                model,
                batch["input_ids"].to(device),
                batch["attention_mask"].to(device),
                batch["labels"].to(device),
                dtype=torch.float64,
            )
            out[rows] = torch.exp(nll).cpu().numpy()
    finally:
        model.train(was_training)
    return out


def train_recording_perplexities(
    lm: CausalLM,
    encoded: list[dict],
    train_params: dict[str, Any],
    *,
    finetune: Literal["full", "lora"] = "full",
    lora_params: dict[str, Any] | None = None,
    eval_batch_size: int = 8,
    max_padding_fraction: float = 1.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Fine-tune a *copy* of the selector on ``encoded`` and record every example's response perplexity.

    The paper fully fine-tunes the selector (``finetune="full"``); ``"lora"`` trains LoRA adapters instead (cheaper
    on a CPU, a documented deviation). Perplexities are taken in eval mode (no dropout) over the same examples,
    in their given order, at ``on_train_begin`` (P0: the untouched model) and at every ``on_epoch_end``.

    Args:
        lm: the selector and its tokenizer; not modified (a deep copy is trained).
        encoded: the pool, encoded (``input_ids``, ``labels`` with -100 outside the response).
        train_params: ``epochs, learning_rate, lr_scheduler, warmup_ratio, weight_decay, batch_size,
            gradient_accumulation_steps, seed`` (see ``training.training_arguments``).
        finetune: ``"full"`` or ``"lora"``.
        lora_params: ``rank, alpha, dropout, target_modules`` (``finetune="lora"`` only).
        eval_batch_size: examples per perplexity forward pass.
        max_padding_fraction: padding cap of a perplexity batch (``models.length_sorted_batches``); 1 = no cap.

    Returns:
        (perplexities: shape (N, epochs + 1) float64, columns P0, P1, ..., PE; summary with ``train_loss``,
        ``train_runtime_s``, ``perplexity_runtime_s``, the passes' ``perplexity_tokens_per_s``,
        ``perplexity_floor_share`` etc. (``llm.throughput.pass_report``), ``epochs``, ``finetune``, ``trainable_parameters``).

    Raises:
        ValueError: no examples, an unknown ``finetune``, or ``lora`` without ``lora_params``.
    """
    from transformers import TrainerCallback

    from data_selection.llm.training import _ChatDataset, lora_config, response_loss_trainer, training_arguments

    if not encoded:
        raise ValueError("cannot train the selector on an empty pool")
    if finetune not in ("full", "lora"):
        raise ValueError(f"unknown selector fine-tune {finetune!r}: full or lora")
    model = copy.deepcopy(lm.model)
    if finetune == "lora":
        if not lora_params:
            raise ValueError("finetune='lora' needs lora_params")
        from peft import get_peft_model

        torch.manual_seed(int(lora_params.get("init_seed", train_params.get("seed", 0))))
        model = get_peft_model(model, lora_config(lora_params))
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    pad_id = lm.tokenizer.pad_token_id
    columns: list[np.ndarray] = []
    timing = {"perplexity_runtime_s": 0.0}

    def record(m) -> None:
        start = time.perf_counter()
        columns.append(response_perplexities(m, encoded, pad_id, eval_batch_size, max_padding_fraction))
        timing["perplexity_runtime_s"] += time.perf_counter() - start
        logger.info("selector perplexities %d: median %.3f", len(columns) - 1, float(np.median(columns[-1])))

    class RecordPerplexities(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            record(model)

        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            record(model)

    model.train()
    with tempfile.TemporaryDirectory() as out:
        args = training_arguments({**train_params, "deepspeed": None}, out)
        trainer = response_loss_trainer(
            model=model,
            args=args,
            train_dataset=_ChatDataset(encoded),
            data_collator=lambda batch: pad_batch(batch, pad_id, side="right"),
            callbacks=[RecordPerplexities()],
        )
        result = trainer.train()
    epochs = int(train_params["epochs"])
    if len(columns) != epochs + 1:
        raise RuntimeError(f"recorded {len(columns)} perplexity passes for {epochs} epochs (expected {epochs + 1})")
    lengths = [len(e["input_ids"]) for e in encoded]
    labelled = sum(sum(1 for t in e["labels"][1:] if t != IGNORE_INDEX) for e in encoded)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in length_sorted_batches(lengths, eval_batch_size,
                                                                                    max_padding_fraction))
    body, head = decoder_flop_counts(model)
    passes = len(columns)
    throughput = pass_report(timing["perplexity_runtime_s"], sum(lengths) * passes, padded * passes,
                             float(passes * (2 * body * sum(lengths) + 2 * head * labelled)))
    summary = {
        "train_loss": float(result.training_loss) if not math.isnan(result.training_loss) else float("nan"),
        "train_runtime_s": float(result.metrics.get("train_runtime", 0.0)),
        "perplexity_runtime_s": timing["perplexity_runtime_s"],
        **{f"perplexity_{key}": value for key, value in throughput.items()},
        "epochs": epochs,
        "finetune": finetune,
        "trainable_parameters": int(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "examples": len(encoded),
    }
    del model, trainer
    return np.stack(columns, axis=1), summary
