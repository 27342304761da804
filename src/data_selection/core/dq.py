"""Dataset Quantization (Zhou et al., ICCV 2023, arXiv 2308.10524): GraphCut bins and uniform bin sampling.

Framework-free: NumPy in, NumPy out. Two steps (paper Sec. 3.2, "dataset bin generation" and "bin sampling"):

1. **Bins** (:class:`GraphCutBins`). From the pool V of items not yet binned, build bin S by greedy maximisation of
   the GraphCut function; the marginal gain of a candidate x (paper Eq. 3-4, official
   ``dq/methods/methods_utils/submodular_function.py::GraphCut.calc_gain``) is

       gain(x | S) = lambda * sum_{j in V} sim(j, x) - 2 * sum_{i in S} sim(i, x),        x in V \\ S

   Then V <- V \\ S and the next bin is built on the smaller pool, K times (optionally per class).
2. **Sampling** (:func:`sample_bins`): the same fraction from every bin (and class), uniformly at random, seeded.

**V includes x itself** (as the official code: its column sums run over the whole current pool), so the first term
carries lambda * sim(x, x). For the similarities DQ uses this is a constant (1 for unit vectors), so the picks are
the same either way; with raw, un-normalised dot products it is not, and this implementation keeps the official form.

**Other libraries' conventions** (all three pick the same items for unit-norm features):

* ``apricot`` ``GraphCutSelection(alpha=a)``: gain = a * sum_{j in V} sim(j, x) - sim(x, x) - 2 * sum_{i in S}
  sim(i, x), i.e. alpha = lambda, minus the constant diagonal term.
* ``submodlib`` ``GraphCutFunction(lambdaVal=l)``: f(X) = sum_{i in V, j in X} s_ij - l * sum_{i, j in X} s_ij, so
  gain = sum_V s(j, x) - l * (2 * sum_S s(i, x) + s(x, x)); dividing DQ's gain by lambda gives l = 1 / lambda (and
  again a constant diagonal term). DQ's lambda = 1 is submodlib's lambdaVal = 1.

**Memory O(N d), never an N x N matrix.** The similarities DQ uses are affine in normalised features:
sim(i, j) = a + b * g_i . g_j, with g = f (``dot``: a = 0, b = 1; DQ's language version on unit-norm embeddings),
g = f / |f| (``cosine``: a = 0, b = 1) or ``cosine01`` = 0.5 + 0.5 cos (a = b = 1/2; DQ's vision version,
``methods_utils/cossim.py::cossim_np``). Then sum_{j in V} sim(j, x) = a|V| + b * g_x . (sum_{j in V} g_j) is one
matrix-vector product for the whole pool, and after each pick i the gains of every candidate drop by
2 * sim(i, x) = 2 * (a + b * G g_i): one matrix-vector product, O(|V| d) per pick (``optimizer="naive"``); the
default ``certified`` rounds make the same picks with one such product per round of picks
(:func:`_certified_greedy_affine`). Any other kernel is a callable
``kernel(A, B) -> (len(A), len(B))`` evaluated in row blocks of ``block_size`` (memory O(block_size * |V|)).
The official code caches a dense |V| x |V| float32 matrix (52,002 Alpaca items: 10.8 GB) and recomputes
sum_{i in S} sim(i, x) from scratch at every step (O(|S| |V|)); the running sum here gives the same gains.

**Ties**: ``argmax`` over candidates kept in ascending pool order, so the lowest index wins (official NaiveGreedy
does the same). Nothing in the bins is random; only :func:`sample_bins` is, and it is seeded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Similarity = Literal["dot", "cosine", "cosine01"]
Kernel = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: sim(i, j) = a + b * g_i . g_j; ``normalise``: g = f / |f| (else g = f)
AFFINE_SIMILARITIES: dict[str, tuple[float, float, bool]] = {
    "dot": (0.0, 1.0, False),
    "cosine": (0.0, 1.0, True),
    "cosine01": (0.5, 0.5, True),
}


def check_features(features: np.ndarray, name: str = "features") -> np.ndarray:
    """``features`` as a 2-D float array, checked.

    Raises:
        ValueError: not 2-D, no rows or no columns, or any NaN / infinite value (names how many rows).
    """
    array = np.asarray(features)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (items x dimensions), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValueError(f"{name} has NaN or infinite values in {bad.sum()} row(s), e.g. rows {rows[:5].tolist()}")
    return array


def _affine_features(features: np.ndarray, similarity: str, dtype) -> tuple[np.ndarray, float, float]:
    """(g, a, b) with sim(i, j) = a + b * g_i . g_j; g in ``dtype`` (a copy: the input is never modified)."""
    a, b, normalise = AFFINE_SIMILARITIES[similarity]
    g = np.array(features, dtype=dtype, copy=True)
    if normalise:
        norms = np.sqrt(np.einsum("ij,ij->i", g, g, dtype=np.float64))  # no float64 copy of the matrix
        zero = norms == 0
        if zero.any():
            raise ValueError(
                f"similarity {similarity!r} needs non-zero feature vectors; {zero.sum()} row(s) are all zeros, "
                f"e.g. rows {np.flatnonzero(zero)[:5].tolist()}"
            )
        g /= norms[:, None].astype(dtype)
    return g, a, b


class _AffineSim:
    """sim(i, j) = a + b * g_i . g_j over the rows of g (no N x N matrix)."""

    def __init__(self, g: np.ndarray, a: float, b: float):
        self.g, self.a, self.b = g, a, b

    def column_sums(self) -> np.ndarray:
        """(n,) float64: sum_j sim(j, x) for every x."""
        total = self.g.sum(axis=0, dtype=np.float64).astype(self.g.dtype)
        return self.a * self.g.shape[0] + self.b * (self.g @ total).astype(np.float64)

    def row(self, i: int) -> np.ndarray:
        """(n,) float64: sim(i, x) for every x."""
        return self.a + self.b * (self.g @ self.g[i]).astype(np.float64)

    def subset(self, rows: np.ndarray) -> _AffineSim:
        return _AffineSim(self.g[rows], self.a, self.b)

    def pair_sum(self, left: np.ndarray, right: np.ndarray) -> float:
        """sum_{i in left, j in right} sim(i, j) (index arrays; O((|left| + |right|) d))."""
        sl = self.g[left].sum(axis=0, dtype=np.float64)
        sr = self.g[right].sum(axis=0, dtype=np.float64)
        return float(self.a * len(left) * len(right) + self.b * (sl @ sr))

    def diagonal_sum(self, rows: np.ndarray) -> float:
        gr = self.g[rows].astype(np.float64)
        return float(self.a * len(rows) + self.b * np.einsum("ij,ij->", gr, gr))


class _KernelSim:
    """A general kernel ``kernel(A, B)`` over the rows of f, evaluated in row blocks (memory O(block * n))."""

    def __init__(self, f: np.ndarray, kernel: Kernel, block_size: int):
        self.f, self.kernel, self.block = f, kernel, int(block_size)

    def _block(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        out = np.asarray(self.kernel(a, b), dtype=np.float64)
        if out.shape != (len(a), len(b)):
            raise ValueError(f"kernel(A, B) must return shape {(len(a), len(b))}, got {out.shape}")
        if not np.isfinite(out).all():
            raise ValueError("kernel returned NaN or infinite similarities")
        return out

    def column_sums(self) -> np.ndarray:
        n = self.f.shape[0]
        total = np.zeros(n, dtype=np.float64)
        for start in range(0, n, self.block):
            total += self._block(self.f[start : start + self.block], self.f).sum(axis=0)
        return total

    def row(self, i: int) -> np.ndarray:
        return self._block(self.f[i : i + 1], self.f)[0]

    def subset(self, rows: np.ndarray) -> _KernelSim:
        return _KernelSim(self.f[rows], self.kernel, self.block)

    def pair_sum(self, left: np.ndarray, right: np.ndarray) -> float:
        total = 0.0
        for start in range(0, len(left), self.block):
            total += float(self._block(self.f[left[start : start + self.block]], self.f[right]).sum())
        return total

    def diagonal_sum(self, rows: np.ndarray) -> float:
        return float(sum(self._block(self.f[i : i + 1], self.f[i : i + 1])[0, 0] for i in rows))


def _greedy(sim, budget: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy GraphCut over the whole pool of ``sim`` (V = every row): ``budget`` picks.

    Returns:
        (order: int64 (budget,) positions in pick order; gains: float64 (budget,) gain(x | S) at each pick).
    """
    gains = lam * sim.column_sums()  # lambda * sum_{j in V} sim(j, x), V including x
    order = np.empty(budget, dtype=np.int64)
    picked_gains = np.empty(budget, dtype=np.float64)
    for t in range(budget):
        i = int(np.argmax(gains))  # first maximum: the lowest index wins ties
        order[t], picked_gains[t] = i, gains[i]
        gains -= 2.0 * sim.row(i)  # the S-term grows by sim(i, x) for every candidate x
        gains[i] = -np.inf  # picked: never again (-inf stays -inf under the updates)
    return order, picked_gains


def _certified_greedy_affine(sim: _AffineSim, budget: int, lam: float, top: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """The picks of :func:`_greedy` for an affine similarity, with one full matrix-vector product per *round* of
    picks instead of one per pick.

    A round starts from exact gains of every candidate and takes the exact argmax j. It then follows only the ``top``
    candidates T with the largest gains exactly (a (top, d) product per pick). After r picks with feature sum P, any
    candidate x outside T has gain_t(x) - 2 a r - 2 b g_x . P <= M - 2 a r + 2 b |g|_max |P| (Cauchy-Schwarz; M and
    |g|_max: the largest gain and norm outside T at the round's start). While T's best exact gain is strictly above
    that bound it is the global argmax (ties inside T: the lowest index, T being in pool order) and is picked;
    otherwise all gains are brought up to date by ONE product G P and a new round starts. The picks are those of
    ``_greedy`` up to float64 rounding of the gains.

    On clustered features (sentence embeddings) a round holds many picks (a 10,000 x 384 text-like bin: 18 on
    average, ~45x faster); on isotropic random features the bound rarely certifies a second pick, so after a
    one-pick round the next rounds are plain ``_greedy`` steps (1, 2, 4, ... up to 64 of them) before trying again:
    at most a few per cent slower than ``_greedy`` there.

    Returns:
        (order: int64 (budget,), gains: float64 (budget,)) as :func:`_greedy`.
    """
    g, a, b = sim.g, float(sim.a), float(sim.b)
    n = g.shape[0]
    norms = np.sqrt(np.einsum("ij,ij->i", g, g, dtype=np.float64))
    gains = lam * sim.column_sums()
    order = np.empty(budget, dtype=np.int64)
    picked_gains = np.empty(budget, dtype=np.float64)
    t, backoff, plain_steps = 0, 0, 0
    while t < budget:
        if plain_steps > 0:  # a plain greedy step
            j = int(np.argmax(gains))
            order[t], picked_gains[t] = j, gains[j]
            gains -= 2.0 * sim.row(j)
            gains[j] = -np.inf
            t, plain_steps = t + 1, plain_steps - 1
            continue
        j = int(np.argmax(gains))  # exact: the first pick of a round needs no certificate
        size = min(top, n - t)
        follow = np.argpartition(gains, n - size)[n - size :]
        follow = np.union1d(follow[np.isfinite(gains[follow])], [j])  # ascending pool order
        follow_gains = gains[follow].copy()
        follow_g = g[follow]
        outside = np.isfinite(gains)
        outside[follow] = False
        best_out = float(gains[outside].max()) if outside.any() else -np.inf
        norm_out = float(norms[outside].max()) if outside.any() else 0.0
        total = np.zeros(g.shape[1], dtype=np.float64)
        position, picked = int(np.searchsorted(follow, j)), []
        while True:
            item = int(follow[position])
            order[t], picked_gains[t] = item, follow_gains[position]
            picked.append(item)
            t += 1
            total += g[item]
            follow_gains -= 2.0 * (a + b * (follow_g @ g[item]).astype(np.float64))
            follow_gains[position] = -np.inf
            if t == budget:
                break
            position = int(np.argmax(follow_gains))
            r = len(picked)
            if not follow_gains[position] > best_out - 2.0 * a * r + 2.0 * b * norm_out * float(np.linalg.norm(total)):
                break
        r = len(picked)
        if t < budget:
            gains -= 2.0 * (a * r + b * (g @ total.astype(g.dtype)).astype(np.float64))
        gains[picked] = -np.inf
        if r == 1:
            backoff = min(64, max(1, 2 * backoff))
            plain_steps = backoff
        else:
            backoff = 0
    return order, picked_gains


def graphcut_objective(sim, bin_rows: np.ndarray, pool_rows: np.ndarray, lam: float) -> float:
    """f(S; V) = lambda * sum_{i in S, j in V} sim(i, j) - sum_{i != j in S} sim(i, j): the sum of the greedy gains
    of S's picks (whatever their order), with V the pool S was built from."""
    same = sim.pair_sum(bin_rows, bin_rows) - sim.diagonal_sum(bin_rows)
    return lam * sim.pair_sum(bin_rows, pool_rows) - same


@dataclass(frozen=True)
class _Group:
    label: object
    rows: np.ndarray  # pool positions of this class (ascending)


def bin_sizes(n: int, n_bins: int, remainder: str) -> list[int]:
    """Sizes of the K bins of a pool (or class) of n items.

    ``last_bin`` (official vision ``quantize_sample.py``): K - 1 bins of floor(n / K) and a last bin with everything
    left (n - (K - 1) floor(n / K)). ``unbinned`` (official ``alpaca_sample.py``): K bins of floor(n / K); the
    n mod K items left over belong to no bin and are never sampled.
    """
    size = n // n_bins
    if remainder == "last_bin":
        return [size] * (n_bins - 1) + [n - size * (n_bins - 1)]
    return [size] * n_bins


class GraphCutBins:
    """K non-overlapping GraphCut bins over a shrinking pool (DQ "dataset bin generation", paper Sec. 3.2).

    Parameters (checked in :meth:`fit`):
        n_bins: K >= 1.
        lam: lambda > 0 of the gain (DQ and the official code: 1.0).
        similarity: ``dot`` (DQ language: raw inner product; unit-norm embeddings make it the cosine), ``cosine``,
            ``cosine01`` (DQ vision: 0.5 + 0.5 cos). Ignored when ``kernel`` is given.
        kernel: optional callable ``kernel(A, B) -> (len(A), len(B))`` similarity block for any other similarity;
            evaluated in row blocks, so memory stays O(block_size * N).
        per_class: build bins separately within each class (DQ vision ``--balance True``); bin b is then the union
            of every class's bin b. Needs ``labels`` in :meth:`fit`.
        remainder: ``last_bin`` (official vision: the last bin is everything left after K - 1 greedy bins) or
            ``unbinned`` (official language: K greedy bins of floor(n / K); n mod K items are never binned).
        dtype: float dtype the features are held in (``float32`` as the official float32 similarity cache, half the
            memory; ``float64`` for exact comparisons). Gains are accumulated in float64 either way.
        optimizer: ``certified`` (default, affine similarities; :func:`_certified_greedy_affine`: the same picks,
            one full matrix-vector product per round of picks) or ``naive`` (one per pick, as the official
            NaiveGreedy). A ``kernel`` always runs ``naive``.
        blas_threads: BLAS threads during the fit (``threadpoolctl``); None leaves the setting alone. One by
            default: every pick is a small memory-bound matrix-vector product, and multi-threaded OpenBLAS
            synchronises its threads on each one (on a loaded 2-core machine a 1,500 x 512 product took 49 ms with
            two threads and 0.48 ms with one).
        block_size: rows per kernel block (general ``kernel`` only).
        progress: show a tqdm bar per bin.

    Fitted attributes (pool positions 0..N-1):
        bin_: int64 (N,), the bin of each item, -1 if unbinned.
        bin_rank_: int64 (N,), the item's greedy pick position within its bin (and class), 0 = first; items of a
            ``last_bin`` remainder get their position in pool order; -1 if unbinned.
        gain_: float64 (N,), gain(x | S) when x was picked; NaN for remainder and unbinned items.
        objective_: float64 (K,), the GraphCut objective f(S_b; V_b) of each bin (summed over classes).
        bin_sizes_: int64 (K,).
    """

    def __init__(
        self,
        n_bins: int = 10,
        lam: float = 1.0,
        similarity: Similarity = "dot",
        kernel: Kernel | None = None,
        per_class: bool = False,
        remainder: Literal["last_bin", "unbinned"] = "last_bin",
        dtype: str = "float32",
        optimizer: Literal["certified", "naive"] = "certified",
        blas_threads: int | None = 1,
        block_size: int = 1024,
        progress: bool = False,
    ):
        self.n_bins = n_bins
        self.lam = lam
        self.similarity = similarity
        self.kernel = kernel
        self.per_class = per_class
        self.remainder = remainder
        self.dtype = dtype
        self.optimizer = optimizer
        self.blas_threads = blas_threads
        self.block_size = block_size
        self.progress = progress

    def _check_parameters(self, n: int) -> None:
        if isinstance(self.n_bins, bool) or int(self.n_bins) != self.n_bins or self.n_bins < 1:
            raise ValueError(f"n_bins must be an integer >= 1, got {self.n_bins!r}")
        if self.n_bins > n:
            raise ValueError(f"n_bins={self.n_bins} is larger than the data ({n} items): every bin needs an item")
        if not (np.isfinite(self.lam) and self.lam > 0):
            raise ValueError(f"lam must be a finite number > 0, got {self.lam!r}")
        if self.kernel is None and self.similarity not in AFFINE_SIMILARITIES:
            raise ValueError(f"unknown similarity {self.similarity!r}; known: {sorted(AFFINE_SIMILARITIES)} or a kernel")
        if self.kernel is not None and not callable(self.kernel):
            raise ValueError("kernel must be a callable kernel(A, B) -> similarity block")
        if self.remainder not in ("last_bin", "unbinned"):
            raise ValueError(f"remainder must be 'last_bin' or 'unbinned', got {self.remainder!r}")
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.optimizer not in ("certified", "naive"):
            raise ValueError(f"optimizer must be 'certified' or 'naive', got {self.optimizer!r}")
        if int(self.block_size) < 1:
            raise ValueError(f"block_size must be >= 1, got {self.block_size!r}")

    def _groups(self, n: int, labels) -> list[_Group]:
        if not self.per_class:
            return [_Group(None, np.arange(n, dtype=np.int64))]
        if labels is None:
            raise ValueError("per_class=True needs labels (one per item)")
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        values, inverse = np.unique(labels, return_inverse=True)
        groups = [_Group(v, np.flatnonzero(inverse == k)) for k, v in enumerate(values)]
        small = [(g.label, len(g.rows)) for g in groups if len(g.rows) < self.n_bins]
        if small:
            raise ValueError(
                f"per-class bins need at least n_bins={self.n_bins} items in every class; class(es) (label, size) "
                f"{small[:5]} are smaller"
            )
        return groups

    def fit(self, features: np.ndarray, labels: np.ndarray | None = None) -> GraphCutBins:
        """Build the bins.

        Args:
            features: (N, d) numeric, finite; never modified.
            labels: (N,) class labels, required when ``per_class``.

        Raises:
            ValueError: bad features (not 2-D, empty, NaN / inf, zero rows under a cosine similarity); n_bins < 1 or
                larger than N; lam <= 0; an unknown similarity / remainder / dtype; per_class without labels or with
                a class smaller than n_bins; a kernel returning the wrong shape or non-finite values.
        """
        if self.blas_threads is None:
            return self._fit(features, labels)
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=int(self.blas_threads), user_api="blas"):
            return self._fit(features, labels)

    def _fit(self, features: np.ndarray, labels: np.ndarray | None) -> GraphCutBins:
        features = check_features(features)
        n = features.shape[0]
        self._check_parameters(n)
        groups = self._groups(n, labels)
        dtype = np.dtype(self.dtype)
        if self.kernel is None:
            g, a, b = _affine_features(features, self.similarity, dtype)
        k = int(self.n_bins)
        self.bin_ = np.full(n, -1, dtype=np.int64)
        self.bin_rank_ = np.full(n, -1, dtype=np.int64)
        self.gain_ = np.full(n, np.nan, dtype=np.float64)
        self.objective_ = np.zeros(k, dtype=np.float64)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc="GraphCut bins", unit="item")
        for group in groups:
            rows = group.rows
            sim = _AffineSim(g[rows], a, b) if self.kernel is None else _KernelSim(features[rows], self.kernel, self.block_size)
            pool = np.arange(len(rows), dtype=np.int64)  # positions in this group, ascending
            for b_index, size in enumerate(bin_sizes(len(rows), k, self.remainder)):
                greedy = not (self.remainder == "last_bin" and b_index == k - 1)
                if greedy:
                    current = sim.subset(pool) if len(pool) < len(rows) else sim
                    if self.kernel is None and self.optimizer == "certified":
                        order, gains = _certified_greedy_affine(current, size, float(self.lam))
                    else:
                        order, gains = _greedy(current, size, float(self.lam))
                    chosen = pool[order]
                    self.gain_[rows[chosen]] = gains
                else:
                    chosen = pool  # everything left, in pool order
                self.bin_[rows[chosen]] = b_index
                self.bin_rank_[rows[chosen]] = np.arange(len(chosen))
                self.objective_[b_index] += graphcut_objective(sim, chosen, pool, float(self.lam))
                pool = np.setdiff1d(pool, chosen, assume_unique=True)
                if bar is not None:
                    bar.update(len(chosen))
        if bar is not None:
            bar.close()
        self.bin_sizes_ = np.bincount(self.bin_[self.bin_ >= 0], minlength=k).astype(np.int64)
        return self


# bin sampling lives in its own module; re-exported so `from data_selection.core.dq import sample_bins` keeps working
from data_selection.core.dq_sampling import sample_bins  # noqa: E402

__all__ = ["GraphCutBins", "bin_sizes", "check_features", "graphcut_objective", "sample_bins"]
