"""Throughput of a per-example pass against this machine's compute floor (issue 13 item 5).

A pass over N examples does a known number of multiply-adds: per real (unpadded) token, ``2 x P`` FLOP forward
through the P non-embedding parameters (the decoder's matrices), twice that when the activation gradients are
back-propagated too (LESS's per-example gradients); the output head adds ``2 x hidden x vocabulary`` per position it
projects (only the labelled ones here, see :mod:`data_selection.llm.response_logits`). The **floor** is the time those
FLOP take at the float32 GEMM rate measured on this machine (:func:`gemm_flops_per_s`); ``floor_share`` = achieved
tokens/s / floor tokens/s (1.0 = every cycle in matrix products at that rate; padding, attention, norms and Python
overhead are what keeps it below).
"""

from __future__ import annotations

import functools
import time

import torch


@functools.lru_cache(maxsize=1)
def gemm_flops_per_s(size: int = 1024, repeats: int = 5) -> float:
    """float32 FLOP/s of a ``size`` x ``size`` matrix product on the current torch threads, best of ``repeats``
    (measured once per process, ~0.1 s on 2 CPU cores)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best


def decoder_flop_counts(model: torch.nn.Module) -> tuple[int, int]:
    """(non-embedding parameters, head multiply-adds per projected position) of a causal LM (PEFT-wrapped or not).

    The input embedding is a lookup (no FLOP); a tied output head is counted once, as ``hidden x vocabulary``.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = base.config
    head = int(config.vocab_size) * int(config.hidden_size)
    embedding_params = base.get_input_embeddings().weight.numel()
    total = sum(p.numel() for n, p in base.named_parameters() if "lora_" not in n)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    body = total - embedding_params - (0 if tied else head)
    return body, head


def pass_report(
    seconds: float,
    tokens: int,
    padded_tokens: int,
    flop: float,
) -> dict[str, float]:
    """``{tokens_per_s, padding_fraction, gflop_per_s, floor_tokens_per_s, floor_share}`` of a pass.

    Args:
        seconds: wall time of the pass (> 0).
        tokens: real tokens processed; ``padded_tokens``: positions computed, padding included (>= tokens).
        flop: the pass's multiply-add FLOP on the real tokens (see the module docstring).
    """
    seconds = max(float(seconds), 1e-9)
    rate = gemm_flops_per_s()
    floor_seconds = flop / rate
    return {
        "tokens_per_s": tokens / seconds,
        "padding_fraction": (padded_tokens - tokens) / max(padded_tokens, 1),
        "gflop_per_s": flop / seconds / 1e9,
        "floor_tokens_per_s": tokens / floor_seconds if floor_seconds > 0 else float("inf"),
        "floor_share": floor_seconds / seconds,
    }
