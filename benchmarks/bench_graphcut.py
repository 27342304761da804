#!/usr/bin/env python
"""Benchmark: DQ's GraphCut bins (``data_selection.core.dq.GraphCutBins``) at the issue's scales, and apricot.

Cases (each run in a fresh subprocess, so peak memory is that run's own):

* ``image``: N x 512 Gaussian features in 10 balanced classes, K = 10 bins per class, similarity 0.5 + 0.5 cos,
  the last bin the remainder (DQ vision defaults). Target at N = 60,000 (Fashion-MNIST's training set): <= 2 min,
  <= 2 GiB.
* ``text``: N x 384 "text-like" unit vectors (50 Gaussian clusters around a shared direction, so cosines are
  mostly positive as with sentence embeddings), K = 10 global bins of N // 10, dot product (DQ language defaults).
  Target at N = 20,000: <= 5 min.
* ``apricot``: the ``text`` case binned with apricot's ``GraphCutSelection`` (naive greedy, precomputed dense
  float64 kernel rebuilt for every bin's pool; apricot refuses negative similarities, so its kernel is the dot product
  + 1, which adds the same lambda |V| - 2 |S| to every candidate's gain and leaves the picks unchanged) at the largest N whose kernel fits ``--apricot-kernel-gib``; ours
  is run on the same features and the bins are compared item by item.

Each case runs at three sizes (N / 4, N / 2, N); the growth exponent is the least-squares slope of log(time)
against log(N) (2 expected: N picks, each one O(N d) matrix-vector product). Time is wall-clock; peak memory is
tracemalloc's peak of traced allocations (NumPy's arrays included) and the process's maximum resident set size.

    .venv/bin/python benchmarks/bench_graphcut.py                 # everything, ~10 min on 2 idle cores
    .venv/bin/python benchmarks/bench_graphcut.py --scale 0.1     # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def image_features(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 512), dtype=np.float32), np.arange(n) % 10


def text_features(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.standard_normal(384)
    centres = common + 1.5 * rng.standard_normal((50, 384))
    x = centres[rng.integers(0, 50, size=n)] + 2.0 * rng.standard_normal((n, 384))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def run_case(case: str, n: int) -> dict:
    """One measurement in this process (called in a subprocess by :func:`main`)."""
    from data_selection.core.dq import GraphCutBins

    if case == "image":
        x, y = image_features(n)
        model = GraphCutBins(10, similarity="cosine01", per_class=True, remainder="last_bin")
        args = (x, y)
    else:
        x, y = text_features(n), None
        model = GraphCutBins(10, similarity="dot", remainder="unbinned")
        args = (x,)
    if case == "apricot":
        return run_apricot(x)
    tracemalloc.start()
    start = time.perf_counter()
    model.fit(*args)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if case == "text" and os.environ.get("BENCH_SAVE_BINS"):
        np.save(os.environ["BENCH_SAVE_BINS"], model.bin_)
    return {"case": case, "n": n, "d": x.shape[1], "seconds": seconds, "traced_peak_mib": peak / 2**20,
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "features_mib": x.nbytes / 2**20}


def run_apricot(x: np.ndarray) -> dict:
    """K = 10 bins of N // 10 with apricot: a dense float64 dot-product kernel of the remaining pool per bin."""
    from apricot import GraphCutSelection
    from apricot.functions import graphCut

    graphCut.calculate_gains_sieve = lambda *a: None  # streaming-only JIT kernel, compiled per fit; never called
    n, k = x.shape[0], 10
    tracemalloc.start()
    start = time.perf_counter()
    bins = np.full(n, -1, dtype=np.int64)
    pool = np.arange(n)
    for b in range(k):
        xp = x[pool].astype(np.float64)
        kernel = xp @ xp.T + 1.0  # apricot refuses negative similarities; +1 adds lambda|V| - 2|S| to every gain: same picks
        selector = GraphCutSelection(n // k, metric="precomputed", alpha=1.0, optimizer="naive").fit(kernel)
        chosen = pool[selector.ranking]
        bins[chosen] = b
        pool = np.setdiff1d(pool, chosen)
        del kernel, selector
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if os.environ.get("BENCH_SAVE_BINS"):
        np.save(os.environ["BENCH_SAVE_BINS"], bins)
    return {"case": "apricot", "n": n, "d": x.shape[1], "seconds": seconds, "traced_peak_mib": peak / 2**20,
            "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "features_mib": x.nbytes / 2**20}


def _subprocess(case: str, n: int, save: str | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if save:
        env["BENCH_SAVE_BINS"] = save
    out = subprocess.run([sys.executable, __file__, "--one", case, str(n)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{case} N={n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _exponent(rows: list[dict]) -> float:
    return float(np.polyfit(np.log([r["n"] for r in rows]), np.log([r["seconds"] for r in rows]), 1)[0])


def _print(row: dict) -> None:
    print(f"  {row['case']:8s} N={row['n']:6d} d={row['d']}: {row['seconds']:8.1f} s   traced peak "
          f"{row['traced_peak_mib']:8.1f} MiB   max RSS {row['max_rss_mib']:8.1f} MiB   (features {row['features_mib']:.0f} MiB)",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every N (quick runs)")
    parser.add_argument("--apricot-kernel-gib", type=float, default=0.75, help="largest dense float64 kernel for apricot")
    parser.add_argument("--skip", nargs="*", default=[], choices=["image", "text", "apricot"])
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_case(args.one[0], int(args.one[1]))))
        return
    print(f"# bench_graphcut on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start, numpy {np.__version__}", flush=True)
    targets = {"image": (60000, 120.0, 2048.0), "text": (20000, 300.0, None)}
    for case, (full, limit_s, limit_mib) in targets.items():
        if case in args.skip:
            continue
        n = int(full * args.scale)
        print(f"{case}: three sizes", flush=True)
        rows = []
        for size in (n // 4, n // 2, n):
            rows.append(_subprocess(case, size))
            _print(rows[-1])
        last = rows[-1]
        verdict = "meets" if last["seconds"] <= limit_s and (limit_mib is None or last["max_rss_mib"] <= limit_mib) else "MISSES"
        print(f"  growth exponent (log time vs log N): {_exponent(rows):.2f}; {verdict} the target "
              f"(<= {limit_s:.0f} s" + (f", <= {limit_mib / 1024:.0f} GiB" if limit_mib else "") + ")", flush=True)
    if "apricot" not in args.skip:
        n_apricot = int(min(np.sqrt(args.apricot_kernel_gib * 2**30 / 8), 20000 * args.scale)) // 10 * 10
        print(f"apricot vs ours: text case, N = {n_apricot} (dense float64 kernel {n_apricot**2 * 8 / 2**30:.2f} GiB)",
              flush=True)
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            theirs = _subprocess("apricot", n_apricot, save=f"{tmp}/apricot.npy")
            ours = _subprocess("text", n_apricot, save=f"{tmp}/ours.npy")
            same = float(np.mean(np.load(f"{tmp}/apricot.npy") == np.load(f"{tmp}/ours.npy")))
        _print(theirs)
        _print(ours)
        print(f"  ratios apricot / ours: time {theirs['seconds'] / ours['seconds']:.1f}x, traced peak memory "
              f"{theirs['traced_peak_mib'] / ours['traced_peak_mib']:.1f}x, max RSS "
              f"{theirs['max_rss_mib'] / ours['max_rss_mib']:.1f}x; items in the same bin: {same:.2%}", flush=True)


if __name__ == "__main__":
    main()
