"""Seeded splits and mixtures: validation/test splits of target tasks, the pool mixture over named sources."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from fractions import Fraction

import numpy as np

__all__ = ["check_mixture", "name_seed", "sample_mixture", "split_validation_test"]


def name_seed(name: str) -> int:
    """Stable (across processes and Python versions) 64-bit integer from a name: the first 8 bytes of its
    UTF-8 SHA-256, big-endian. (Python's ``hash()`` is salted per process and must not be used.)"""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def split_validation_test(
    rows: list[dict], n_validation_per_subtask: int, n_test_per_subtask: int | None, seed: int
) -> tuple[list[dict], list[dict]]:
    """Split target rows per subtask into disjoint validation and test sets.

    For each subtask (sorted names), its rows (input order) are permuted by
    ``np.random.default_rng([seed, name_seed(subtask)])`` -- derived from the subtask *name*, so adding or
    removing another subtask never changes this one's split. The first ``n_validation_per_subtask`` go to
    validation, the next ``n_test_per_subtask`` (None: all the rest; if fewer remain, all the rest) to test.

    Args:
        rows: dicts with a ``"subtask"`` key (not mutated; the same dict objects are returned).
        n_validation_per_subtask: >= 1.
        n_test_per_subtask: >= 1, or None.
        seed: non-negative integer.

    Returns:
        (validation, test), each ordered by subtask name then shuffled order.

    Raises:
        ValueError: n_validation_per_subtask < 1, n_test_per_subtask < 1, a negative seed, or a subtask with
            fewer than ``n_validation_per_subtask + 1`` rows (the message names it).
    """
    if isinstance(n_validation_per_subtask, bool) or int(n_validation_per_subtask) != n_validation_per_subtask:
        raise ValueError(f"n_validation_per_subtask must be an integer, got {n_validation_per_subtask!r}")
    if n_validation_per_subtask < 1:
        raise ValueError(f"n_validation_per_subtask must be >= 1, got {n_validation_per_subtask}")
    if n_test_per_subtask is not None and n_test_per_subtask < 1:
        raise ValueError(f"n_test_per_subtask must be >= 1 or None, got {n_test_per_subtask}")
    seed = _check_seed(seed)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["subtask"], []).append(row)
    validation: list[dict] = []
    test: list[dict] = []
    for subtask in sorted(groups):
        group = groups[subtask]
        need = n_validation_per_subtask + 1
        if len(group) < need:
            raise ValueError(
                f"subtask {subtask!r} has {len(group)} examples, needs at least {need} "
                f"({n_validation_per_subtask} validation + 1 test)"
            )
        order = np.random.default_rng([seed, name_seed(str(subtask))]).permutation(len(group))
        shuffled = [group[i] for i in order]
        validation.extend(shuffled[:n_validation_per_subtask])
        rest = shuffled[n_validation_per_subtask:]
        test.extend(rest if n_test_per_subtask is None else rest[:n_test_per_subtask])
    return validation, test


def check_mixture(mixture: Mapping[str, float], sources: Collection[str]) -> dict[str, Fraction]:
    """Validate mixture weights against the configured source names; cheap, so call it before any work.

    Args:
        mixture: source name -> weight (a number >= 0).
        sources: the names of the configured sources.

    Returns:
        The positive weights as exact fractions of the given floats (zero weights dropped).

    Raises:
        ValueError: a name that is not a configured source (even with weight 0, so typos never pass
            silently), a weight that is not a number, NaN, infinite or negative, or no positive weight.
    """
    if not isinstance(mixture, Mapping) or not mixture:
        raise ValueError(f"the mixture must map source names to weights, got {mixture!r}")
    unknown = sorted(str(s) for s in mixture if s not in sources)
    if unknown:
        raise ValueError(f"mixture names source(s) {unknown} that are not configured; configured: {sorted(sources)}")
    weights: dict[str, Fraction] = {}
    for source, w in mixture.items():
        if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)):
            raise ValueError(f"mixture weight for source {source!r} must be a number, got {w!r}")
        w = float(w)
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"mixture weight for source {source!r} must be a finite number >= 0, got {w!r}")
        if w > 0:
            weights[source] = Fraction(w)
    if not weights:
        raise ValueError("every mixture weight is 0: give at least one source a positive weight")
    return weights


def _largest_remainder(size: int, weights: dict[str, Fraction]) -> dict[str, int]:
    """Counts proportional to weights summing exactly to size; ties in the remainder go to the
    alphabetically first source."""
    total = sum(weights.values())
    quotas = {s: size * w / total for s, w in weights.items()}
    counts = {s: int(q) for s, q in quotas.items()}  # floor (quotas are >= 0)
    left = size - sum(counts.values())
    for s in sorted(quotas, key=lambda s: (-(quotas[s] - counts[s]), s))[:left]:
        counts[s] += 1
    return counts


def _round_robin(records: list[dict], count: int, rng: np.random.Generator) -> list[dict]:
    groups: dict[str, list[dict]] = {}
    for r in records:
        groups.setdefault(r["subtask"], []).append(r)
    queues = [[groups[name][i] for i in rng.permutation(len(groups[name]))] for name in sorted(groups)]
    taken: list[dict] = []
    depth = 0
    while len(taken) < count:
        for q in queues:
            if depth < len(q):
                taken.append(q[depth])
                if len(taken) == count:
                    break
        depth += 1
    return taken


def sample_mixture(
    records_by_source: Mapping[str, list[dict]], size: int, mixture: Mapping[str, float], seed: int
) -> list[dict]:
    """Seeded sample of ``size`` pool records mixed across sources.

    Weights (checked by :func:`check_mixture` against ``records_by_source``) are normalised; per-source
    counts use largest-remainder rounding of ``size * weight`` (exact rational arithmetic on the given
    floats) so they sum to ``size``; ties in the remainder go to the source whose name sorts first (size 7,
    weights 1/1/1 over a/b/c -> 3/2/2). Each source is sampled with its own generator
    ``np.random.default_rng([seed, name_seed(source)])``:

    * a source whose records all have a non-None ``"subtask"`` (BIG-bench task folders): each subtask's
      records are permuted, then taken round-robin over subtasks in sorted order (counts per subtask
      differ by at most one unless a subtask runs out; the first subtasks in sorted order take the extra);
    * otherwise: ``rng.choice(n, count, replace=False)``.

    Args:
        records_by_source: source name -> list of pool records (not mutated; the same dicts are returned).
        size: total number of records, >= 1.
        mixture: source name -> weight >= 0, with a positive sum; every name must be in ``records_by_source``.
        seed: non-negative integer.

    Returns:
        The sampled records ordered by source name (sorted) then sampled order.

    Raises:
        ValueError: size < 1; see :func:`check_mixture`; a source with fewer records than its count
            (``"source X has N records, mixture needs M"``); a negative seed.
    """
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    seed = _check_seed(seed)
    counts = _largest_remainder(size, check_mixture(mixture, records_by_source))
    for source in sorted(counts):
        n = len(records_by_source[source])
        if counts[source] > n:
            raise ValueError(f"source {source!r} has {n} records, mixture needs {counts[source]}")
    out: list[dict] = []
    for source in sorted(counts):
        count = counts[source]
        if count == 0:
            continue
        records = records_by_source[source]
        rng = np.random.default_rng([seed, name_seed(source)])
        if all(r.get("subtask") is not None for r in records):
            out.extend(_round_robin(records, count, rng))
        else:
            out.extend(records[i] for i in rng.choice(len(records), size=count, replace=False))
    return out
