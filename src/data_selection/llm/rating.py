"""SelectIT rating probabilities: how likely a model is to answer "1".."5" to a rating prompt.

Prompt format of the official ``self_reflection/*.py`` (SelectIT note, "Rating prompt format")::

    R + "\\n" + "Instruction:" + instruction + "\\n" + "Response:" + response + "\\nThe answer is: \\n"

The rating prompt R is the same for every example, so its key/value cache is computed once per prompt and
reused for every batch (``past_key_values``); examples in a batch are left-padded *after* the prefix with
explicit position ids, so each example sees exactly the positions it would see alone, and only the last
position's logits are computed (``logits_to_keep=1``; Gemma's 262k-token head is most of its cost).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

ANSWER_TAIL = "\nThe answer is: \n"


def rating_token_ids(tokenizer, levels: int = 5) -> list[int]:
    """Token ids of the ratings "1".."levels" as the next token after ``"...The answer is: \\n"``.

    Looked up from the model's own tokenizer (the official code hard-codes Llama-2 ids).

    Raises:
        ValueError: a rating is not a single token, or two ratings share a token.
    """
    ids = []
    for rating in range(1, levels + 1):
        tokens = tokenizer(str(rating), add_special_tokens=False)["input_ids"]
        if len(tokens) != 1 or (tokenizer.unk_token_id is not None and tokens[0] == tokenizer.unk_token_id):
            raise ValueError(f"rating {rating!r} is not a single known token for this tokenizer: {tokens}")
        ids.append(tokens[0])
    if len(set(ids)) != len(ids):
        raise ValueError(f"rating tokens are not distinct: {ids}")
    return ids


@dataclass
class EncodedExample:
    ids: list[int]
    truncated: bool


@dataclass
class RatingResult:
    """Probabilities (N, L) of the rating tokens (full-vocabulary softmax), NaN rows for failures."""

    probabilities: np.ndarray
    failures: dict[int, str] = field(default_factory=dict)
    truncated: int = 0


class RatingScorer:
    """Batched rating-token probabilities for one model.

    Args:
        model: a causal LM (transformers), in eval mode.
        tokenizer: its tokenizer.
        max_length: longest prompt (prefix + example) in tokens; longer examples are cut from the end of
            the response (then of the instruction), counted in ``RatingResult.truncated``.
        levels: number of rating levels L (5 in the paper; separate from the number of prompts).
    """

    def __init__(self, model, tokenizer, max_length: int = 512, levels: int = 5):
        self.model, self.tokenizer, self.max_length = model, tokenizer, int(max_length)
        self.rating_ids = torch.tensor(rating_token_ids(tokenizer, levels))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.device = next(model.parameters()).device

    def _tok(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prefix_ids(self, prompt: str) -> list[int]:
        """Token ids of ``R + "\\n"``, starting with BOS when the tokenizer adds one."""
        bos = [self.tokenizer.bos_token_id] if getattr(self.tokenizer, "add_bos_token", False) and self.tokenizer.bos_token_id is not None else []
        return bos + self._tok(prompt.rstrip("\n") + "\n")

    def encode(self, prefix_len: int, instruction: str, response: str) -> EncodedExample:
        """Ids of ``Instruction:…\\nResponse:…\\nThe answer is: \\n`` fitted into ``max_length - prefix_len``.

        Raises:
            ValueError: not even the fixed parts of the prompt fit in ``max_length``.
        """
        head = self._tok("Instruction:" + instruction + "\n" + "Response:")
        body = self._tok(response)
        tail = self._tok(ANSWER_TAIL)
        budget = self.max_length - prefix_len - len(tail)
        if budget < 2:
            raise ValueError(f"the rating prompt alone ({prefix_len + len(tail)} tokens) exceeds max_length={self.max_length}")
        truncated = len(head) + len(body) > budget
        if truncated:
            body = body[: max(0, budget - len(head))]
            head = head[:budget - len(body)]
        return EncodedExample(head + body + tail, truncated)

    @torch.no_grad()
    def _prefix_cache(self, prefix: list[int]):
        out = self.model(input_ids=torch.tensor([prefix], device=self.device), use_cache=True)
        return out.past_key_values

    @torch.no_grad()
    def _batch(self, cache, prefix_len: int, examples: list[list[int]]) -> torch.Tensor:
        width = max(len(e) for e in examples)
        batch = len(examples)
        ids = torch.full((batch, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((batch, prefix_len + width), dtype=torch.long)
        mask[:, :prefix_len] = 1
        for row, e in enumerate(examples):
            ids[row, width - len(e) :] = torch.tensor(e)
            mask[row, prefix_len + width - len(e) :] = 1
        suffix_mask = mask[:, prefix_len:]
        positions = (prefix_len + suffix_mask.cumsum(dim=1) - 1).clamp(min=prefix_len)
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(batch)
        out = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            past_key_values=past,
            use_cache=True,
            logits_to_keep=1,
        )
        probs = torch.softmax(out.logits[:, -1, :].float(), dim=-1)
        return probs[:, self.rating_ids.to(probs.device)].cpu()

    @torch.no_grad()
    def reference_probabilities(self, prompt: str, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The straightforward way: one example at a time, the whole prompt, no cache (for tests/benchmarks)."""
        prefix = self.prefix_ids(prompt)
        rows = []
        for instruction, response in pairs:
            ids = prefix + self.encode(len(prefix), instruction, response).ids
            logits = self.model(input_ids=torch.tensor([ids], device=self.device)).logits[0, -1].float()
            rows.append(torch.softmax(logits, dim=-1)[self.rating_ids.to(logits.device)].cpu().numpy())
        return np.stack(rows).astype(np.float64)

    def probabilities(
        self, prompt: str, pairs: list[tuple[str, str]], batch_size: int = 8, desc: str = "rating"
    ) -> RatingResult:
        """Rating-token probabilities of every (instruction, response) pair under rating prompt ``prompt``.

        A batch whose forward pass fails is retried one example at a time; an example that still fails gets
        a NaN row and its reason in ``failures`` (keyed by its index), so no score moves to another example.
        """
        prefix = self.prefix_ids(prompt)
        cache = self._prefix_cache(prefix)
        levels = len(self.rating_ids)
        out = np.full((len(pairs), levels), np.nan)
        failures: dict[int, str] = {}
        encoded: dict[int, list[int]] = {}
        truncated = 0
        for index, (instruction, response) in enumerate(pairs):
            try:
                e = self.encode(len(prefix), instruction, response)
            except ValueError as exc:
                failures[index] = str(exc)
                continue
            truncated += e.truncated
            encoded[index] = e.ids
        order = sorted(encoded, key=lambda i: (len(encoded[i]), i))
        for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
            chunk = order[start : start + batch_size]
            try:
                out[chunk] = self._batch(cache, len(prefix), [encoded[i] for i in chunk]).numpy()
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: retry alone, then report
                logger.warning("batch of %d failed (%s); retrying one at a time", len(chunk), exc)
                for i in chunk:
                    try:
                        out[i] = self._batch(cache, len(prefix), [encoded[i]]).numpy()[0]
                    except (RuntimeError, ValueError) as single:
                        failures[i] = f"{type(single).__name__}: {single}"
        return RatingResult(out, failures, truncated)
