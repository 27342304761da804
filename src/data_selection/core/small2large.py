"""Small2Large selection math (Mekala, Nguyen and Shang, Findings of ACL 2024, arXiv 2402.10430).

A small *selector* model is fine-tuned on the whole pool for E epochs (the paper: 3) while every example's response
perplexity is recorded before training (P0) and after each epoch (P1..PE). The *learning percentage* says how much of
the total drop in perplexity an example made during the first epoch; examples learned late (low LP) are "hard" and
the paper keeps, in every K-means cluster of the pool, the lowest-LP chunk.

Everything here is arrays in, arrays out (NumPy), deterministic, and never builds anything larger than the pool.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Variant = Literal["lp1", "lp1_approx"]
Chunk = Literal["low", "mid", "high"]
Rounding = Literal["exact", "official"]
Unlearned = Literal["official", "first", "last"]

#: status codes of :func:`learning_percentage` (kept as strings in the reported tables)
LEARNED, NO_DROP, ROSE = "learned", "no_drop", "rose"


def _check_perplexities(perplexities: np.ndarray) -> np.ndarray:
    p = np.asarray(perplexities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"perplexities must have shape (N, epochs + 1) with epochs >= 1, got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p <= 0):
        raise ValueError("perplexities must be finite and > 0 (a perplexity is exp(mean NLL) >= 1)")
    return p


def learning_percentage(perplexities: np.ndarray, variant: Variant = "lp1") -> tuple[np.ndarray, np.ndarray]:
    """Learning percentage of every example from its perplexity trajectory.

    Formulas (paper §3, official ``subset.py``), with P0 before training, P1 after epoch 1 and PE after the last:

    * ``lp1``: LP(1) = (P0 - P1) / (P0 - PE), the share of the total perplexity drop made in the first epoch.
    * ``lp1_approx``: LP(1)_app = (P0 - P1) / P0 (needs epoch 1 only). Its denominator P0 is > 0 (validated).

    No division by zero, ever: where the LP(1) denominator is 0 (PE == P0, compared exactly) the value is **0**, as
    the official code sets it, and the example's status is ``"no_drop"``. Where PE > P0 (perplexity rose over the
    whole training) the formula is kept as is (the denominator is negative, so the sign flips; the official code
    does the same) and the status is ``"rose"``. For ``lp1_approx`` the statuses compare P1 with P0 instead
    (``"no_drop"``: P1 == P0, value 0; ``"rose"``: P1 > P0, value < 0). How such examples are *ranked* is chosen by
    :func:`ranking_keys` (``unlearned``).

    Args:
        perplexities: shape (N, E + 1), float, columns P0, P1, ..., PE; every value finite and > 0.
        variant: ``"lp1"`` or ``"lp1_approx"``.

    Returns:
        (lp: shape (N,) float64, finite; status: shape (N,) ``<U8`` strings ``"learned"``, ``"no_drop"``, ``"rose"``).

    Raises:
        ValueError: wrong shape, a non-finite or non-positive perplexity, or an unknown variant.
    """
    p = _check_perplexities(perplexities)
    p0, p1, last = p[:, 0], p[:, 1], p[:, -1]
    if variant == "lp1":
        reference = last
        denominator = p0 - last
    elif variant == "lp1_approx":
        reference = p1
        denominator = p0
    else:
        raise ValueError(f"unknown learning-percentage variant {variant!r}: lp1 or lp1_approx")
    safe = np.where(denominator == 0, 1.0, denominator)
    lp = np.where(denominator == 0, 0.0, (p0 - p1) / safe)
    status = np.full(p.shape[0], LEARNED, dtype="<U8")
    status[reference == p0] = NO_DROP
    status[reference > p0] = ROSE
    return lp, status


def ranking_keys(lp: np.ndarray, status: np.ndarray, unlearned: Unlearned = "official") -> np.ndarray:
    """The value examples are sorted by (ascending: hardest first), given how un-learned examples are ranked.

    Args:
        lp: shape (N,), float, from :func:`learning_percentage`.
        status: shape (N,), its statuses.
        unlearned: ``"official"``: by the LP value itself (the official code: ``no_drop`` = 0 sits among the hard
            examples, ``rose`` wherever its sign-flipped value falls); ``"first"``: every ``no_drop``/``rose``
            example before every learned one (never learned = hardest), by LP among themselves; ``"last"``: after
            every learned one (treated as noise), by LP among themselves.

    Returns:
        shape (N,) float64 keys; ties are broken by pool index in :func:`sorted_members`.

    Raises:
        ValueError: shapes differ or an unknown rule.
    """
    lp = np.asarray(lp, dtype=np.float64)
    status = np.asarray(status)
    if lp.shape != status.shape or lp.ndim != 1:
        raise ValueError(f"lp {lp.shape} and status {status.shape} must be 1-D of the same length")
    if unlearned == "official":
        return lp.copy()
    if unlearned not in ("first", "last"):
        raise ValueError(f"unknown rule for un-learned examples {unlearned!r}: official, first or last")
    odd = status != LEARNED
    if not odd.any():
        return lp.copy()
    # shift the un-learned block entirely below (first) or above (last) the learned values, keeping their order
    learned = lp[~odd]
    span = (learned.max() - learned.min() + 1.0) if learned.size else 1.0
    keys = lp.copy()
    if unlearned == "first":
        floor = learned.min() if learned.size else 0.0
        keys[odd] = lp[odd] - lp[odd].max() + floor - span
    else:
        ceiling = learned.max() if learned.size else 0.0
        keys[odd] = lp[odd] - lp[odd].min() + ceiling + span
    return keys


def chunk_count(budget_fraction: float) -> int:
    """k = round(100 / p) for a budget of p percent (official ``subset.py``), at least 1.

    Python's ``round`` (halves to even), as the official code. 10 % -> 10, 33 % -> 3, 20 % -> 5.

    Raises:
        ValueError: ``budget_fraction`` outside (0, 1].
    """
    if not 0 < budget_fraction <= 1:
        raise ValueError(f"budget_fraction must be in (0, 1], got {budget_fraction}")
    return max(1, int(round(100.0 / (100.0 * budget_fraction))))


def chunk_index(chunk: Chunk, k: int) -> int:
    """Which of the k ascending-LP chunks: ``low`` = 0 (the paper's default), ``mid`` = (k - 1) // 2, ``high`` = k - 1."""
    if chunk == "low":
        return 0
    if chunk == "mid":
        return (k - 1) // 2
    if chunk == "high":
        return k - 1
    raise ValueError(f"unknown chunk {chunk!r}: low, mid or high")


def _cluster_sizes(clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    clusters = np.asarray(clusters)
    if clusters.ndim != 1 or clusters.size == 0:
        raise ValueError("clusters must be a non-empty 1-D array of cluster labels")
    if not np.issubdtype(clusters.dtype, np.integer):
        raise ValueError(f"cluster labels must be integers, got {clusters.dtype}")
    labels, sizes = np.unique(clusters, return_counts=True)
    return labels, sizes


def cluster_quotas(
    clusters: np.ndarray, k: int, chunk: Chunk = "low", rounding: Rounding = "exact", budget: int | None = None
) -> dict[int, tuple[int, int]]:
    """How many members each cluster contributes, and where its window starts in the cluster's ascending order.

    * ``rounding="official"``: ``np.array_split`` of a cluster of n members into k chunks gives the first n mod k
      chunks ceil(n / k) members and the others floor(n / k); the window is chunk :func:`chunk_index` of that split,
      exactly as the official code. Every cluster with n >= k contributes, so the total usually *overshoots*
      n_pool / k (Alpaca 10 %: 5,667 of 52,002).
    * ``rounding="exact"`` (default): ``budget`` examples in total, shared out over clusters in proportion to their
      sizes by the largest-remainder (Hamilton) rule: cluster c first gets floor(budget * n_c / N), then the
      remaining examples go one each to the clusters with the largest fractional parts, ties broken by the larger
      cluster, then the smaller cluster label (deterministic). The window is the first ``q`` members (``low``), the
      last ``q`` (``high``) or the ``q`` members centred in the cluster (``mid``: start (n - q) // 2).

    Args:
        clusters: shape (N,), integer cluster label per example.
        k: number of chunks, >= 1 (:func:`chunk_count`).
        chunk: ``low``, ``mid`` or ``high``.
        rounding: ``exact`` or ``official``.
        budget: total count for ``exact`` (1..N); ignored by ``official``.

    Returns:
        ``{label: (start, count)}`` for every cluster label present, in ascending label order.

    Raises:
        ValueError: bad labels, k < 1, unknown chunk/rounding, or ``exact`` without a budget in [1, N].
    """
    labels, sizes = _cluster_sizes(clusters)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    index = chunk_index(chunk, k)
    if rounding == "official":
        out = {}
        for label, n in zip(labels.tolist(), sizes.tolist()):
            base, extra = divmod(n, k)
            count = base + (1 if index < extra else 0)
            start = index * base + min(index, extra)
            out[label] = (start, count)
        return out
    if rounding != "exact":
        raise ValueError(f"unknown rounding {rounding!r}: exact or official")
    total = int(sizes.sum())
    if budget is None or not 1 <= budget <= total:
        raise ValueError(f"rounding='exact' needs a budget in [1, {total}], got {budget}")
    share = budget * sizes.astype(np.float64) / total
    counts = np.floor(share).astype(np.int64)
    # exact integer remainders (budget * n_c mod N) avoid floating-point ties going the wrong way
    remainders = (budget * sizes) % total
    left = int(budget - counts.sum())
    order = np.lexsort((labels, -sizes, -remainders))  # last key sorts first: largest remainder, larger, lower label
    counts[order[:left]] += 1
    out = {}
    for label, n, q in zip(labels.tolist(), sizes.tolist(), counts.tolist()):
        start = {"low": 0, "high": n - q, "mid": (n - q) // 2}[chunk]
        out[label] = (start, q)
    return out


def sorted_members(keys: np.ndarray, clusters: np.ndarray, label: int) -> np.ndarray:
    """Pool indices of one cluster in ascending key order, ties by ascending pool index (stable, deterministic)."""
    members = np.flatnonzero(np.asarray(clusters) == label)
    return members[np.argsort(np.asarray(keys)[members], kind="stable")]


def select_per_cluster(
    keys: np.ndarray,
    clusters: np.ndarray,
    k: int,
    chunk: Chunk = "low",
    rounding: Rounding = "exact",
    budget: int | None = None,
) -> np.ndarray:
    """The chosen chunk of every cluster (official ``subset.py``: sort by ascending LP, ``np.array_split``, keep one).

    Args:
        keys: shape (N,), float, the sort keys (:func:`ranking_keys`; low = hard).
        clusters: shape (N,), integer labels.
        k, chunk, rounding, budget: see :func:`cluster_quotas`.

    Returns:
        int64 pool indices, cluster by cluster in ascending label order, each cluster's members in ascending key order
        (the official subsets' order). Length = ``budget`` for ``exact``; sum of the chunk sizes for ``official``.

    Raises:
        ValueError: as :func:`cluster_quotas`, or ``keys`` and ``clusters`` of different lengths / non-finite keys.
    """
    keys = np.asarray(keys, dtype=np.float64)
    clusters = np.asarray(clusters)
    if keys.shape != clusters.shape:
        raise ValueError(f"keys {keys.shape} and clusters {clusters.shape} differ")
    if not np.all(np.isfinite(keys)):
        raise ValueError("sort keys must be finite")
    quotas = cluster_quotas(clusters, k, chunk, rounding, budget)
    parts = [sorted_members(keys, clusters, label)[start : start + count] for label, (start, count) in quotas.items()]
    return np.concatenate(parts).astype(np.int64)


def cluster_random(clusters: np.ndarray, counts: dict[int, int], seed: int) -> np.ndarray:
    """The paper's ``clust_rand`` baseline: ``counts[c]`` members of every cluster c uniformly without replacement.

    One ``numpy.random.default_rng(seed)`` draws cluster after cluster in ascending label order (the official code
    uses Python's ``random.seed(42)`` in the same order; the generators differ, so draws are not bit-identical).

    Args:
        clusters: shape (N,), integer labels.
        counts: ``{label: count}`` with 0 <= count <= cluster size (e.g. the LP selection's per-cluster counts).
        seed: the generator's seed.

    Returns:
        int64 pool indices, cluster by cluster, ascending pool order inside a cluster.

    Raises:
        ValueError: a count larger than its cluster, negative, or for a label that has no member.
    """
    clusters = np.asarray(clusters)
    labels, sizes = _cluster_sizes(clusters)
    size_of = dict(zip(labels.tolist(), sizes.tolist()))
    rng = np.random.default_rng(seed)
    parts = []
    for label in sorted(counts):
        count = int(counts[label])
        if label not in size_of or not 0 <= count <= size_of[label]:
            raise ValueError(f"cannot draw {count} from cluster {label} of size {size_of.get(label, 0)}")
        members = np.flatnonzero(clusters == label)
        parts.append(np.sort(rng.choice(members, size=count, replace=False)))
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def num_clusters_for(pool_size: int, num_clusters: int | None, examples_per_cluster: float) -> int:
    """``num_clusters`` if given, else round(pool_size / examples_per_cluster) (paper: 52,002 / 1,000 = 52 per
    cluster), clipped to [1, pool_size].

    Raises:
        ValueError: empty pool, ``num_clusters`` outside [1, pool_size], or ``examples_per_cluster`` <= 0.
    """
    if pool_size < 1:
        raise ValueError("the pool is empty")
    if num_clusters is not None:
        if not 1 <= num_clusters <= pool_size:
            raise ValueError(f"num_clusters={num_clusters} is outside [1, {pool_size}]")
        return int(num_clusters)
    if examples_per_cluster <= 0:
        raise ValueError(f"examples_per_cluster must be > 0, got {examples_per_cluster}")
    return int(min(pool_size, max(1, round(pool_size / examples_per_cluster))))


def kmeans_clusters(embeddings: np.ndarray, num_clusters: int, seed: int) -> np.ndarray:
    """K-means labels of the (L2-normalised) sentence embeddings (scikit-learn ``KMeans``, ``n_init="auto"``,
    ``random_state=seed``; the official ``clustering.py`` uses seed 42).

    Args:
        embeddings: shape (N, D), float.
        num_clusters: 1..N.
        seed: ``random_state``.

    Returns:
        shape (N,) int64 labels in [0, num_clusters).

    Raises:
        ValueError: wrong shape, non-finite values, or ``num_clusters`` outside [1, N].
    """
    from sklearn.cluster import KMeans

    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"embeddings must have shape (N, D) with N >= 1, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("embeddings contain non-finite values")
    if not 1 <= num_clusters <= x.shape[0]:
        raise ValueError(f"num_clusters={num_clusters} is outside [1, {x.shape[0]}]")
    model = KMeans(n_clusters=num_clusters, n_init="auto", random_state=seed)
    return model.fit_predict(x).astype(np.int64)
