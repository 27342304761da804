"""Dataset Quantization's bin sampling (Zhou et al., ICCV 2023, Sec. 3.2, "bin sampling"): the same share of every
GraphCut bin (and class), uniformly at random, seeded, at an exact budget. Framework-free: NumPy in, NumPy out. The
bins themselves are :class:`data_selection.core.dq.GraphCutBins`."""

from __future__ import annotations

import numpy as np


def _quotas(sizes: np.ndarray, count: int) -> np.ndarray:
    """Largest-remainder apportionment of ``count`` over cells of ``sizes``: cell c gets floor(count * s_c / T) and
    the count - sum(floors) cells with the largest remainders (count * s_c mod T, exact integers) get one more;
    equal remainders: the earlier cell first. sum = count, and every cell gets floor or ceil of its exact share."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    product = sizes.astype(object) * count  # exact integers, no overflow
    base = np.array([int(p // total) for p in product], dtype=np.int64)
    remainders = np.array([int(p % total) for p in product], dtype=np.int64)
    extra = count - int(base.sum())
    order = np.lexsort((np.arange(len(sizes)), -remainders))  # largest remainder first, then the earlier cell
    base[order[:extra]] += 1
    return base


def sample_bins(
    bin_of: np.ndarray,
    seed: int,
    count: int | None = None,
    fraction: float | None = None,
    labels: np.ndarray | None = None,
    count_per_class: int | None = None,
) -> np.ndarray:
    """DQ bin sampling (paper Sec. 3.2; official ``dq/methods/uniform.py``, ``alpaca_sample.py``): the same share
    of every bin (and, with ``labels``, of every class within a bin), drawn uniformly without replacement.

    The total is exactly the budget: each (bin, class) cell gets its exact share count * |cell| / |binned| rounded
    by largest remainder (:func:`_quotas`; ties to the earlier bin, then the earlier class), unlike the official
    per-cell ``round()`` (banker's rounding, so "12.5 %" of CIFAR-10 is 6,200 = 12.4 %) and ``int(n / k)`` per bin.
    The draw in cell (b, c) uses ``numpy.random.default_rng([seed, b, c])``, so one cell's draw does not depend on
    the others' sizes.

    Args:
        bin_of: int (N,), each item's bin (>= 0) or -1 for unbinned items (never drawn).
        seed: >= 0.
        count: number of items to draw, 1 <= count <= number of binned items; or
        fraction: share of the binned items in (0, 1]; count = floor(fraction * binned) (the project's budget rule).
        labels: optional (N,) class labels: sample the same share per class within each bin.
        count_per_class: instead of ``count``/``fraction``, exactly this many items of every class (needs
            ``labels``): a class-balanced budget such as the image track's IPC. Each class's items are apportioned
            over its own bins by largest remainder (DQ's ``balance=True``, where every class is sampled separately).

    Returns:
        int64 (count,) pool positions, ordered by bin, then class, then position.

    Raises:
        ValueError: not exactly one of count / fraction / count_per_class; count_per_class without labels or larger
            than a class's binned items; a fraction outside (0, 1] or one that selects nothing; a
            count outside [1, binned]; no binned item; a negative seed; labels of the wrong shape.
    """
    bin_of = np.asarray(bin_of)
    if bin_of.ndim != 1 or not np.issubdtype(bin_of.dtype, np.integer):
        raise ValueError(f"bin_of must be a 1-D integer array, got {bin_of.dtype} {bin_of.shape}")
    if sum(x is not None for x in (count, fraction, count_per_class)) != 1:
        raise ValueError("give exactly one of count, fraction or count_per_class")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    binned = np.flatnonzero(bin_of >= 0)
    if len(binned) == 0:
        raise ValueError("no item is in a bin: nothing to sample")
    if fraction is not None:
        if not (0.0 < float(fraction) <= 1.0):
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        count = int(np.floor(float(fraction) * len(binned) + 1e-9))
        if count == 0:
            raise ValueError(f"fraction={fraction} of {len(binned)} binned items selects nothing")
    if count_per_class is not None:
        if labels is None:
            raise ValueError("count_per_class needs the class labels")
        if isinstance(count_per_class, bool) or int(count_per_class) != count_per_class or count_per_class < 1:
            raise ValueError(f"count_per_class must be an integer >= 1, got {count_per_class!r}")
    elif isinstance(count, bool) or int(count) != count or not 1 <= count <= len(binned):
        raise ValueError(f"count={count!r} is outside [1, {len(binned)}] (the number of binned items)")
    if labels is None:
        class_of = np.zeros(len(bin_of), dtype=np.int64)
    else:
        labels = np.asarray(labels)
        if labels.shape != bin_of.shape:
            raise ValueError(f"labels must have shape {bin_of.shape}, got {labels.shape}")
        class_of = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    cells = sorted({(int(b), int(c)) for b, c in zip(bin_of[binned], class_of[binned])})
    members = {cell: [] for cell in cells}
    for i in binned:  # ascending position within every cell
        members[(int(bin_of[i]), int(class_of[i]))].append(int(i))
    sizes = np.array([len(members[cell]) for cell in cells], dtype=np.int64)
    if count_per_class is None:
        quotas = _quotas(sizes, int(count))
    else:
        quotas = np.zeros(len(cells), dtype=np.int64)
        cell_class = np.array([c for _, c in cells], dtype=np.int64)
        for c in range(int(class_of.max()) + 1):
            in_class = np.flatnonzero(cell_class == c)
            available = int(sizes[in_class].sum())
            if available < int(count_per_class):
                name = np.unique(labels)[c]
                raise ValueError(f"count_per_class={count_per_class} but class {name} has {available} binned items")
            quotas[in_class] = _quotas(sizes[in_class], int(count_per_class))
    chosen = []
    for (b, c), quota in zip(cells, quotas):
        if quota:
            rng = np.random.default_rng([int(seed), b, c])
            chosen.append(np.sort(rng.choice(np.asarray(members[(b, c)], dtype=np.int64), size=int(quota), replace=False)))
    return np.concatenate(chosen).astype(np.int64)
