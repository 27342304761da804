"""LESS gradient features: per-checkpoint, per-example projected and L2-normalised LoRA gradients.

Pool examples get Adam-preconditioned gradients Γ(z), validation examples plain SGD gradients ∇ℓ(z')
(LESS §3.1-3.2; ``get_train_lora_grads.sh`` with ``adam``, ``get_eval_lora_grads.sh`` with ``sgd``).
Both are projected with the same seeded projector and normalised, so their inner product is the cosine of
LESS Eq. 3.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from data_selection.core.less import adam_preconditioned_gradient, l2_normalize
from data_selection.core.projection import make_projector
from data_selection.llm.gradients import LoraGradientCollector
from data_selection.llm.models import CausalLM, encode_example, length_sorted_batches, pad_batch
from data_selection.llm.training import attach_lora

logger = logging.getLogger(__name__)


def collect_features(
    lm: CausalLM,
    conversations: list[list[dict]],
    checkpoints: dict[str, dict],
    lora_params: dict[str, Any],
    params: dict[str, Any],
    gradient_type: str,
    desc: str = "gradients",
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Projected, normalised gradient features of ``conversations`` at every checkpoint.

    Args:
        lm: the base model (left unchanged).
        conversations: message lists, each ending with the assistant response.
        checkpoints: ``{name: {"tensors": {...lora..., "exp_avg.<p>", "exp_avg_sq.<p>"}, "meta": {...}}}``
            as stored by the warmup node.
        lora_params: LoRA shape of the warmup run.
        params: ``max_length, batch_size, projection, projection_dim, projection_seed, adam_variant,
            adam_beta1, adam_beta2, adam_eps`` and optional ``projection_options``.
        gradient_type: ``"adam"`` (pool) or ``"sgd"`` (validation).

    Returns:
        (features, timings): ``{checkpoint name: float32 (n, projection_dim)}`` with unit rows;
        timings in seconds for ``forward_backward`` and ``projection`` and the number of examples/s.

    Raises:
        ValueError: unknown gradient type or no conversations.
    """
    if gradient_type not in ("adam", "sgd"):
        raise ValueError(f"gradient_type must be 'adam' or 'sgd', got {gradient_type!r}")
    if not conversations:
        raise ValueError("no examples to compute gradients for")
    encoded = [encode_example(lm.tokenizer, c, int(params["max_length"])) for c in conversations]
    batches = length_sorted_batches([len(e["input_ids"]) for e in encoded], int(params["batch_size"]))
    features: dict[str, np.ndarray] = {}
    t_grad = t_proj = 0.0
    projector = None
    for name in sorted(checkpoints):
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
    timings = {
        "forward_backward_s": t_grad,
        "projection_s": t_proj,
        "examples_per_s": n_total / max(t_grad + t_proj, 1e-9),
    }
    logger.info(
        "%s: %d examples x %d checkpoints, forward+backward %.1f s, projection %.1f s (%.1f%%)",
        desc, len(encoded), len(checkpoints), t_grad, t_proj, 100 * t_proj / max(t_grad, 1e-9),
    )
    return features, timings
