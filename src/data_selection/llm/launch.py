"""Multi-process (multi-GPU) LoRA training from inside one Kedro node, through ``accelerate launch`` or ``torchrun``.

Running ``accelerate launch kedro run ...`` would execute the *whole* pipeline once per rank: every rank would prepare
data, select, write the catalog's outputs and log to MLflow. Here Kedro stays one process and only the training step
fans out: :func:`launch_training` writes the job (records, LoRA and training parameters, where to load the base model
from) to a temporary folder, starts the launcher on :mod:`data_selection.llm.launch` as a module, each rank runs the
ordinary :func:`data_selection.llm.training.train_lora` (the Hugging Face ``Trainer`` does DDP, or DeepSpeed ZeRO-2
when ``training.deepspeed`` names a config), and rank 0 writes the result (final LoRA state, LESS epoch snapshots,
summary) atomically. The node reads it back and carries on, as with in-process training.

``launcher.num_processes: 1`` (the default) trains in-process: the same code path, one process, as on this CPU
machine. ``command: accelerate`` is for GPU machines (``accelerate launch --multi_gpu``, one process per GPU);
``command: torchrun`` is ``torch.distributed.run --standalone``: with CUDA one process per GPU, on a CPU machine
gloo-backed CPU processes, which is how the tests run two ranks here.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

#: set in every rank by the launcher's environment: a launched worker never launches again
WORKER_ENV = "DATA_SELECTION_LAUNCHED_WORKER"

DEFAULT_LAUNCHER = {"num_processes": 1, "command": "accelerate", "extra_args": []}


def launcher_command(launcher: dict[str, Any], job_dir: str) -> list[str]:
    """The argv that starts ``launcher["num_processes"]`` ranks of this module's worker on ``job_dir``.

    Raises:
        ValueError: an unknown ``command``.
    """
    n = int(launcher["num_processes"])
    extra = [str(a) for a in launcher.get("extra_args") or []]
    worker = ["-m", "data_selection.llm.launch", str(job_dir)]
    if launcher["command"] == "accelerate":
        return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n),
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", *extra, *worker]
    if launcher["command"] == "torchrun":
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
                *extra, *worker]
    raise ValueError(f"unknown launcher command {launcher['command']!r}: accelerate or torchrun")


def _model_dtype(model: torch.nn.Module) -> str:
    dtype = next(model.parameters()).dtype
    return {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}[dtype]


def launch_training(
    lm,
    records: list[dict],
    lora_params: dict[str, Any],
    train_params: dict[str, Any],
    launcher: dict[str, Any],
    snapshot_each_epoch: bool = False,
    prompt_format: str | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict], dict[str, float]]:
    """Run :func:`~data_selection.llm.training.train_lora` on ``launcher["num_processes"]`` ranks; same returns.

    Args:
        lm: the base model (not modified). Each rank reloads it from ``lm.path``; a model without one is saved into
            the job folder first.
        records, lora_params, train_params, snapshot_each_epoch, prompt_format: as for ``train_lora``.
        launcher: ``{num_processes, command: accelerate | torchrun, extra_args: [...]}``.

    Returns:
        rank 0's (final LoRA state, epoch snapshots, training summary with ``num_processes`` added).

    Raises:
        RuntimeError: the launcher exited non-zero (the message holds its command and last output lines) or rank 0
            wrote no result.
    """
    with tempfile.TemporaryDirectory(prefix="ds-launch-") as job_dir:
        job = Path(job_dir)
        model_path = lm.path
        if model_path is None:
            lm.model.save_pretrained(job / "model")
            lm.tokenizer.save_pretrained(job / "model")
            model_path = str(job / "model")
        spec = {
            "model_path": model_path,
            "model_name": lm.name,
            "dtype": _model_dtype(lm.model),
            "records": records,
            "lora_params": dict(lora_params),
            "train_params": {k: v for k, v in train_params.items() if k != "launcher"},
            "snapshot_each_epoch": bool(snapshot_each_epoch),
            "prompt_format": prompt_format,
        }
        (job / "job.json").write_text(json.dumps(spec))
        argv = launcher_command(launcher, job_dir)
        logger.info("training on %d processes: %s", int(launcher["num_processes"]), shlex.join(argv))
        env = {**os.environ, WORKER_ENV: "1"}
        tail: collections.deque[str] = collections.deque(maxlen=40)
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env) as proc:
            for line in proc.stdout:  # stream the ranks' progress, keep the end for the error message
                sys.stderr.write(line)
                tail.append(line.rstrip())
        if proc.returncode != 0:
            raise RuntimeError(
                f"multi-process training failed (exit {proc.returncode}): {shlex.join(argv)}\n"
                + "\n".join(tail)
            )
        result_file = job / "result.pt"
        if not result_file.exists():
            raise RuntimeError(f"the launched training wrote no result ({result_file}): {shlex.join(argv)}")
        result = torch.load(result_file, weights_only=False)
    summary = {**result["summary"], "num_processes": int(launcher["num_processes"])}
    return result["state"], result["snapshots"], summary


def _worker(job_dir: str) -> None:
    """One rank: reload the base model, train with the Trainer (which joins the process group), rank 0 saves."""
    from data_selection.atomic import atomic_file
    from data_selection.llm.models import CausalLM, load_causal_lm
    from data_selection.llm.training import train_lora

    job = Path(job_dir)
    spec = json.loads((job / "job.json").read_text())
    # each rank loads straight onto its own GPU (not N copies in host memory first); CPU ranks stay on the CPU
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu"
    loaded = load_causal_lm(spec["model_path"], dtype=spec["dtype"], device=device)
    lm = CausalLM(loaded.model, loaded.tokenizer, spec["model_name"], path=spec["model_path"])
    state, snapshots, summary = train_lora(
        lm, spec["records"], spec["lora_params"], spec["train_params"],
        snapshot_each_epoch=spec["snapshot_each_epoch"], prompt_format=spec["prompt_format"],
    )
    if int(os.environ.get("RANK", "0")) == 0:
        with atomic_file(job / "result.pt") as handle:
            torch.save({"state": state, "snapshots": snapshots, "summary": summary}, handle)


if __name__ == "__main__":  # pragma: no cover - run by the launcher in each rank (covered by the launch tests)
    logging.basicConfig(level=logging.INFO)
    _worker(sys.argv[1])
