"""SelectIT rating probabilities: how likely a model is to answer "1".."5" to a rating prompt.

Prompt format of the official ``self_reflection/*.py`` (SelectIT note, "Rating prompt format")::

    R + "\\n" + "Instruction:" + instruction + "\\n" + "Response:" + response + "\\nThe answer is: \\n"

where R is a line of ``data/rating_prompt.txt`` read with ``readlines``: lines 1-8 keep their own newline,
so the official prompt has a blank line after R (``separator="\\n\\n"``, the default here; ``"\\n"`` is the
format of the file's last line).

**One string, one tokenisation.** Every prompt is tokenised as one string, exactly as the official script
does, so no token straddling the boundary between the rating prompt and the example is split differently
than in a whole-string pass. (With a GPT-2-style BPE, ``"...own.\\n\\n"`` alone ends in one ``"\\n\\n"``
token, but followed by ``"Instruction:"`` the two newlines are two tokens.)

**Prefix cache.** The leading tokens shared by *every* example's whole-string tokenisation (at most the
tokens of ``R + separator``, BOS included) are run once per rating prompt and their key/value cache is
reused for every batch (``past_key_values``). The shared length is the longest common prefix of the actual
token sequences, so the cached tokens are by construction identical to the whole-string tokens; where the
tokenisation of ``R + separator`` alone differs at the boundary, the differing tokens simply stay in each
example's suffix. Examples are left-padded after the prefix with explicit position ids, so each sees exactly
the positions it would see alone, and only the last position's logits are computed (``logits_to_keep=1``;
Gemma's 262k-token head is most of its cost).

**Truncation** (the official code never truncates; with a length cap, cutting the response end used to drop
the whole response of most natural_instructions examples): a prompt longer than ``max_length`` tokens is
shortened by cutting the *instruction* first (``truncate_instruction``: ``middle`` keeps its beginning and its
end, ``end`` keeps its beginning), down to ``min(min_instruction_tokens, budget // 2)`` tokens; only then is
the response cut, always keeping its beginning and at least one token. The rating prompt, the
``Instruction:`` / ``Response:`` markers and the answer tail are never cut. Cuts are made on token boundaries
of the instruction / response tokenised alone (character offsets, so a fast tokenizer is required) and the
shortened string is then tokenised whole again; removed-token counts are per example.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

INSTRUCTION_MARKER = "Instruction:"
RESPONSE_MARKER = "Response:"
ANSWER_TAIL = "\nThe answer is: \n"
#: official: the prompt line's own newline (``readlines``) + the "\n" the script adds
OFFICIAL_SEPARATOR = "\n\n"

TruncateInstruction = Literal["middle", "end"]


def rating_prompt_text(prompt: str, instruction: str, response: str, separator: str = OFFICIAL_SEPARATOR) -> str:
    """The whole rating prompt as one string (official ``construction_rps``; see module docstring).

    ``prompt`` is one rating-prompt line; trailing newlines are stripped and ``separator`` is put in their place.
    """
    return (
        prompt.rstrip("\n") + separator + INSTRUCTION_MARKER + instruction + "\n" + RESPONSE_MARKER + response + ANSWER_TAIL
    )


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


def _leading_special_tokens(tokenizer) -> list[int]:
    """The ids the tokenizer puts *before* a text with ``add_special_tokens=True`` (e.g. Gemma's BOS).

    Trailing specials (an EOS some tokenizers append) are deliberately not used: the rating is the next token
    after the answer tail.
    """
    plain = tokenizer("1", add_special_tokens=False)["input_ids"]
    full = tokenizer("1", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start])
    return []


def _common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


@dataclass
class EncodedExample:
    """One rating prompt as token ids, with what truncation removed.

    Attributes:
        ids: token ids of the whole prompt (leading special tokens included), ``len(ids) <= max_length``.
        text: the (possibly shortened) prompt string whose tokenisation ``ids`` is.
        instruction_tokens / response_tokens: length in tokens of the instruction / response tokenised alone.
        instruction_cut / response_cut: how many of those tokens were removed (0 = untouched).
    """

    ids: list[int]
    text: str
    instruction_tokens: int = 0
    response_tokens: int = 0
    instruction_cut: int = 0
    response_cut: int = 0

    @property
    def truncated(self) -> bool:
        return self.instruction_cut > 0 or self.response_cut > 0


@dataclass
class RatingResult:
    """Rating-token probabilities of N examples under one rating prompt.

    Attributes:
        probabilities: float64 (N, L), full-vocabulary softmax probabilities of the L rating tokens; NaN rows
            for failures.
        failures: example index -> reason.
        instruction_cut / response_cut: int64 (N,), tokens removed from each instruction / response (0 for a
            failure that could not even be encoded).
        instruction_tokens / response_tokens: int64 (N,), their untruncated lengths in tokens.
        prompt_tokens: int64 (N,), length of the prompt actually scored (0 when not encoded).
        shared_prefix_tokens: tokens run once through the prefix cache.
    """

    probabilities: np.ndarray
    failures: dict[int, str] = field(default_factory=dict)
    instruction_cut: np.ndarray | None = None
    response_cut: np.ndarray | None = None
    instruction_tokens: np.ndarray | None = None
    response_tokens: np.ndarray | None = None
    prompt_tokens: np.ndarray | None = None
    shared_prefix_tokens: int = 0

    @property
    def truncated(self) -> int:
        """Number of examples that lost any token."""
        if self.instruction_cut is None:
            return 0
        return int(np.count_nonzero((self.instruction_cut > 0) | (self.response_cut > 0)))


def truncation_report(
    instruction_cut: Sequence[int],
    response_cut: Sequence[int],
    instruction_tokens: Sequence[int] | None = None,
    response_tokens: Sequence[int] | None = None,
) -> dict[str, float | int]:
    """How many rating prompts were cut and by how much (JSON-serialisable, for logs and MLflow).

    Args:
        instruction_cut, response_cut: tokens removed per prompt, shape (P,), integers >= 0.
        instruction_tokens, response_tokens: untruncated lengths per prompt, shape (P,) (optional; adds the
            share of tokens removed).

    Returns:
        ``prompts``, ``truncated`` (prompts with any cut), ``instruction_truncated``, ``response_truncated``
        (prompts whose instruction / response lost tokens), ``instruction_tokens_removed`` /
        ``response_tokens_removed`` (totals), ``max_instruction_tokens_removed`` /
        ``max_response_tokens_removed``, and with the lengths ``instruction_removed_fraction`` /
        ``response_removed_fraction`` (removed / total tokens over all prompts).

    Raises:
        ValueError: shapes differ or counts are negative.
    """
    ins = np.asarray(instruction_cut, dtype=np.int64)
    res = np.asarray(response_cut, dtype=np.int64)
    if ins.shape != res.shape or ins.ndim != 1:
        raise ValueError(f"cut counts must be two 1-D arrays of one shape, got {ins.shape} and {res.shape}")
    if (ins < 0).any() or (res < 0).any():
        raise ValueError("cut counts must be >= 0")
    report: dict[str, float | int] = {
        "prompts": int(ins.size),
        "truncated": int(np.count_nonzero((ins > 0) | (res > 0))),
        "instruction_truncated": int(np.count_nonzero(ins > 0)),
        "response_truncated": int(np.count_nonzero(res > 0)),
        "instruction_tokens_removed": int(ins.sum()),
        "response_tokens_removed": int(res.sum()),
        "max_instruction_tokens_removed": int(ins.max(initial=0)),
        "max_response_tokens_removed": int(res.max(initial=0)),
    }
    if instruction_tokens is not None and response_tokens is not None:
        total_ins = int(np.asarray(instruction_tokens, dtype=np.int64).sum())
        total_res = int(np.asarray(response_tokens, dtype=np.int64).sum())
        report["instruction_removed_fraction"] = float(ins.sum() / total_ins) if total_ins else 0.0
        report["response_removed_fraction"] = float(res.sum() / total_res) if total_res else 0.0
    return report


class RatingScorer:
    """Batched rating-token probabilities for one model.

    Args:
        model: a causal LM (transformers), in eval mode.
        tokenizer: its tokenizer; must be a fast tokenizer (character offsets are used to cut on token
            boundaries).
        max_length: longest prompt in tokens (rating prompt + example, special tokens included).
        levels: number of rating levels L (5 in the paper; separate from the number of prompts).
        truncate_instruction: ``middle`` (keep the instruction's beginning and end; default: the official
            code does not truncate, and a task definition's start plus the actual input at its end are what a
            rater needs) or ``end`` (keep its beginning).
        min_instruction_tokens: the instruction is cut down to ``min(min_instruction_tokens, budget // 2)``
            tokens before the response loses any (budget = ``max_length`` minus the fixed prompt tokens).
        separator: text between the rating prompt line and ``Instruction:`` (official ``"\\n\\n"``).

    Raises:
        ValueError: bad ``max_length`` / ``truncate_instruction`` / ``min_instruction_tokens``, a slow
            tokenizer, or rating tokens that are not single tokens.
    """

    def __init__(
        self,
        model,
        tokenizer,
        max_length: int = 512,
        levels: int = 5,
        truncate_instruction: TruncateInstruction = "middle",
        min_instruction_tokens: int = 32,
        separator: str = OFFICIAL_SEPARATOR,
    ):
        if int(max_length) < 2:
            raise ValueError(f"max_length must be >= 2, got {max_length}")
        if truncate_instruction not in ("middle", "end"):
            raise ValueError(f"truncate_instruction must be 'middle' or 'end', got {truncate_instruction!r}")
        if int(min_instruction_tokens) < 0:
            raise ValueError(f"min_instruction_tokens must be >= 0, got {min_instruction_tokens}")
        if not getattr(tokenizer, "is_fast", False):
            raise ValueError("RatingScorer needs a fast tokenizer (character offsets) to truncate on token boundaries")
        self.model, self.tokenizer, self.max_length = model, tokenizer, int(max_length)
        self.truncate_instruction = truncate_instruction
        self.min_instruction_tokens = int(min_instruction_tokens)
        self.separator = separator
        self.rating_ids = torch.tensor(rating_token_ids(tokenizer, levels))
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.special = _leading_special_tokens(tokenizer)
        self.device = next(model.parameters()).device

    def _tok(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        return [tuple(o) for o in self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]

    def prompt_ids(self, text: str) -> list[int]:
        """Ids of a whole prompt string: the tokenizer's leading special tokens (BOS) + its tokens."""
        return self.special + self._tok(text)

    def prefix_ids(self, prompt: str) -> list[int]:
        """Ids of ``R + separator`` tokenised alone (BOS first when the tokenizer adds one).

        Only the part of it that every example's whole-string tokenisation shares is cached (module docstring).
        """
        return self.prompt_ids(prompt.rstrip("\n") + self.separator)

    @staticmethod
    def _cut(text: str, offsets: list[tuple[int, int]], keep: int, mode: str) -> str:
        """``text`` reduced to ``keep`` of its ``len(offsets)`` tokens: the first ``keep`` (``end``), or the first
        ``ceil(keep/2)`` and the last ``floor(keep/2)`` (``middle``)."""
        n = len(offsets)
        if keep >= n:
            return text
        if keep <= 0:
            return ""
        if mode == "end":
            return text[: offsets[keep - 1][1]]
        head = (keep + 1) // 2
        tail = keep - head
        # the tail starts where the last removed token ends, so the whitespace before it is kept
        return text[: offsets[head - 1][1]] + (text[offsets[n - tail - 1][1] :] if tail else "")

    def encode(self, prompt: str, instruction: str, response: str) -> EncodedExample:
        """The whole prompt for one example, tokenised as one string and fitted into ``max_length``.

        Raises:
            ValueError: not even the fixed parts of the prompt plus one response token fit in ``max_length``.
        """
        text = rating_prompt_text(prompt, instruction, response, self.separator)
        ids = self.prompt_ids(text)
        ins_offsets, res_offsets = self._offsets(instruction), self._offsets(response)
        n_ins, n_res = len(ins_offsets), len(res_offsets)
        if len(ids) <= self.max_length:
            return EncodedExample(ids, text, n_ins, n_res)
        fixed = len(self.prompt_ids(rating_prompt_text(prompt, "", "", self.separator)))
        budget = self.max_length - fixed
        if budget < min(1, n_res):
            raise ValueError(
                f"the rating prompt alone ({fixed} tokens) leaves no room for the response within max_length={self.max_length}"
            )
        keep_ins, keep_res = self._allocate(n_ins, n_res, budget)
        for _ in range(64):  # re-tokenising the shortened string can differ by a token or two at the joins
            cut_ins = self._cut(instruction, ins_offsets, keep_ins, self.truncate_instruction)
            cut_res = self._cut(response, res_offsets, keep_res, "end")
            text = rating_prompt_text(prompt, cut_ins, cut_res, self.separator)
            ids = self.prompt_ids(text)
            over = len(ids) - self.max_length
            if over <= 0:
                return EncodedExample(ids, text, n_ins, n_res, n_ins - keep_ins, n_res - keep_res)
            keep_ins, keep_res = self._allocate(keep_ins, keep_res, keep_ins + keep_res - over)
        raise ValueError(f"could not fit the prompt into max_length={self.max_length} tokens")  # pragma: no cover

    def _allocate(self, n_ins: int, n_res: int, budget: int) -> tuple[int, int]:
        """Tokens kept of (instruction, response) for ``budget`` tokens: instruction first down to its floor,
        then the response down to one token, then the rest of the instruction."""
        excess = n_ins + n_res - max(budget, 0)
        if excess <= 0:
            return n_ins, n_res
        floor = min(n_ins, self.min_instruction_tokens, max(budget, 0) // 2)
        cut = min(excess, n_ins - floor)
        n_ins, excess = n_ins - cut, excess - cut
        cut = min(excess, max(n_res - 1, 0))
        n_res, excess = n_res - cut, excess - cut
        cut = min(excess, n_ins)
        n_ins, excess = n_ins - cut, excess - cut
        if excess > 0:
            raise ValueError(f"the rating prompt leaves no room for the response within max_length={self.max_length}")
        return n_ins, n_res

    @torch.no_grad()
    def _prefix_cache(self, prefix: list[int]):
        if not prefix:
            return None
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
        past = None
        if cache is not None:
            past = copy.deepcopy(cache)
            past.batch_repeat_interleave(batch)
        out = self.model(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            past_key_values=past,
            use_cache=cache is not None,
            logits_to_keep=1,
        )
        probs = torch.softmax(out.logits[:, -1, :].float(), dim=-1)
        return probs[:, self.rating_ids.to(probs.device)].cpu()

    @torch.no_grad()
    def reference_probabilities(self, prompt: str, pairs: list[tuple[str, str]]) -> np.ndarray:
        """The straightforward way: one example at a time, the whole prompt, no cache (for tests/benchmarks)."""
        rows = []
        for instruction, response in pairs:
            ids = self.encode(prompt, instruction, response).ids
            logits = self.model(input_ids=torch.tensor([ids], device=self.device)).logits[0, -1].float()
            rows.append(torch.softmax(logits, dim=-1)[self.rating_ids.to(logits.device)].cpu().numpy())
        return np.stack(rows).astype(np.float64)

    def probabilities(
        self, prompt: str, pairs: list[tuple[str, str]], batch_size: int = 8, desc: str = "rating"
    ) -> RatingResult:
        """Rating-token probabilities of every (instruction, response) pair under rating prompt ``prompt``.

        An example whose prompt cannot fit gets a NaN row and its reason in ``failures``. A batch whose forward
        pass fails is retried one example at a time; an example that still fails gets a NaN row and its reason
        (keyed by its index), so no score moves to another example.

        Raises:
            ValueError: ``batch_size`` < 1.
        """
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(pairs)
        levels = len(self.rating_ids)
        out = np.full((n, levels), np.nan)
        counts = {key: np.zeros(n, dtype=np.int64) for key in ("ins_cut", "res_cut", "ins", "res", "len")}
        failures: dict[int, str] = {}
        encoded: dict[int, list[int]] = {}
        for index, (instruction, response) in enumerate(pairs):
            try:
                e = self.encode(prompt, instruction, response)
            except ValueError as exc:
                failures[index] = str(exc)
                continue
            encoded[index] = e.ids
            counts["ins_cut"][index], counts["res_cut"][index] = e.instruction_cut, e.response_cut
            counts["ins"][index], counts["res"][index], counts["len"][index] = e.instruction_tokens, e.response_tokens, len(e.ids)
        candidate = self.prefix_ids(prompt)
        shared = len(candidate)
        for ids in encoded.values():  # longest prefix shared by every whole-string tokenisation
            shared = min(shared, _common_prefix_length(candidate, ids), len(ids) - 1)
        if encoded and shared < len(candidate):
            logger.debug("prefix %d of %d tokens shared (boundary tokens re-tokenised with each example)", shared, len(candidate))
        prefix = candidate[:shared] if encoded else []
        cache = self._prefix_cache(prefix)
        suffixes = {i: ids[len(prefix) :] for i, ids in encoded.items()}
        order = sorted(suffixes, key=lambda i: (len(suffixes[i]), i))
        for start in tqdm(range(0, len(order), batch_size), desc=desc, leave=False):
            chunk = order[start : start + batch_size]
            try:
                out[chunk] = self._batch(cache, len(prefix), [suffixes[i] for i in chunk]).numpy()
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory: retry alone, then report
                logger.warning("batch of %d failed (%s); retrying one at a time", len(chunk), exc)
                for i in chunk:
                    try:
                        out[i] = self._batch(cache, len(prefix), [suffixes[i]]).numpy()[0]
                    except (RuntimeError, ValueError) as single:
                        failures[i] = f"{type(single).__name__}: {single}"
        return RatingResult(
            out, failures, counts["ins_cut"], counts["res_cut"], counts["ins"], counts["res"], counts["len"], len(prefix)
        )
