"""LoRA fine-tuning with transformers ``Trainer`` + peft, shared by LESS warmup and every method's fine-tune.

LESS needs, for each epoch checkpoint, the LoRA weights, the AdamW moments of each LoRA parameter and the
mean learning rate of the epoch (LESS §3.1 and ``matching.py``). The official code reads the moments back
from ``optimizer.bin`` keyed by position, which breaks with a plain Trainer save (LESS pitfall 4). Here a
callback snapshots them from the live optimizer at the end of each epoch, keyed by parameter *name*.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from typing import Any

import torch

from data_selection.llm.launch import WORKER_ENV, launch_training
from data_selection.llm.models import CausalLM, encode_example, pad_batch

logger = logging.getLogger(__name__)


def lora_config(params: dict[str, Any]):
    """A ``peft.LoraConfig`` from parameters ``{rank, alpha, dropout, target_modules}``."""
    from peft import LoraConfig

    return LoraConfig(
        r=int(params["rank"]),
        lora_alpha=float(params["alpha"]),
        lora_dropout=float(params.get("dropout", 0.0)),
        target_modules=list(params["target_modules"]),
        task_type="CAUSAL_LM",
        bias="none",
    )


def attach_lora(lm: CausalLM, lora_params: dict[str, Any], adapter_state: dict[str, torch.Tensor] | None = None):
    """Wrap ``lm.model`` with fresh LoRA adapters (optionally loading ``adapter_state``); returns the PEFT model.

    ``adapter_state`` maps PEFT parameter names (``base_model.model....lora_A.default.weight``) to tensors,
    as produced by :func:`lora_state`.
    """
    from peft import get_peft_model

    torch.manual_seed(int(lora_params.get("init_seed", 0)))
    model = get_peft_model(lm.model, lora_config(lora_params))
    if adapter_state:
        named = dict(model.named_parameters())
        missing = [k for k in adapter_state if k not in named]
        if missing:
            raise ValueError(f"adapter does not fit this model/LoRA config: unknown parameters {missing[:3]}")
        with torch.no_grad():
            for name, value in adapter_state.items():
                named[name].copy_(value.to(named[name].dtype))
    return model


def lora_state(model) -> dict[str, torch.Tensor]:
    """Trainable (LoRA) parameters by name, detached CPU copies."""
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if p.requires_grad}


def training_arguments(train_params: dict[str, Any], output_dir: str):
    """``transformers.TrainingArguments`` of the project's recipe (``train_params`` as in :func:`train_lora`):
    AdamW, no checkpoints, CPU unless CUDA is there, seeded data order."""
    from transformers import TrainingArguments

    use_cuda = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=float(train_params["epochs"]),
        learning_rate=float(train_params["learning_rate"]),
        lr_scheduler_type=train_params.get("lr_scheduler", "linear"),
        warmup_steps=float(train_params.get("warmup_ratio", 0.0)),  # transformers 5: a float < 1 is a ratio
        weight_decay=float(train_params.get("weight_decay", 0.0)),
        per_device_train_batch_size=int(train_params["batch_size"]),
        gradient_accumulation_steps=int(train_params.get("gradient_accumulation_steps", 1)),
        seed=int(train_params.get("seed", 0)),
        data_seed=int(train_params.get("seed", 0)),
        optim="adamw_torch",
        save_strategy="no",
        logging_steps=max(1, int(train_params.get("logging_steps", 5))),
        report_to=[],
        use_cpu=not use_cuda,
        bf16=bool(train_params.get("bf16", False)) and use_cuda,
        deepspeed=train_params.get("deepspeed") or None,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,
    )


def response_loss_trainer(**kwargs):
    """A ``transformers.Trainer`` whose loss projects only the response positions onto the vocabulary.

    The loss is the usual causal-LM loss (token NLL summed over the labelled next tokens of the accumulated batch,
    divided by their number, the Trainer's ``num_items_in_batch``), but computed with
    :func:`data_selection.llm.response_logits.labelled_logits`: the output head never sees prompt or padding
    positions (about half the cost of a Gemma-3-270M step on CPU). In a multi-process run (DDP, DeepSpeed), where
    the wrapped model's own forward must run, and for architectures without a plain head, it is the stock
    ``Trainer.compute_loss``. ``kwargs`` go to ``Trainer``.
    """
    from transformers import Trainer

    from data_selection.llm.response_logits import labelled_logits, split_head

    class ResponseLossTrainer(Trainer):
        def _head_only(self, model) -> bool:
            return (
                self.accelerator.num_processes == 1
                and self.args.n_gpu <= 1
                and not self.is_deepspeed_enabled
                and model is self.model
                and split_head(model) is not None
            )

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if return_outputs or not self._head_only(model):
                self.loss_is_scaled_for_ga = None
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            logits, targets, _ = labelled_logits(
                model, inputs["input_ids"], inputs["attention_mask"], inputs["labels"]
            )
            token_nll = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
            if num_items_in_batch is not None:
                self.loss_is_scaled_for_ga = True  # normalised over the whole accumulated batch, as the stock loss
                return token_nll / num_items_in_batch
            self.loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides by the accumulation steps
            return token_nll / max(int(targets.numel()), 1)

    return ResponseLossTrainer(**kwargs)


class _ChatDataset(torch.utils.data.Dataset):
    def __init__(self, encoded: list[dict]):
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.encoded)

    def __getitem__(self, index: int) -> dict:
        return self.encoded[index]


def encode_records(
    tokenizer, records: list[dict], max_length: int, prompt_format: str | None = None
) -> tuple[list[dict], int]:
    """Encode normalised records (``messages``) with :func:`encode_example`; returns (encoded, number truncated)."""
    encoded, truncated = [], 0
    for record in records:
        e = encode_example(tokenizer, record["messages"], max_length, prompt_format)
        truncated += e.pop("truncated")
        encoded.append(e)
    return encoded, truncated


def train_lora(
    lm: CausalLM,
    records: list[dict],
    lora_params: dict[str, Any],
    train_params: dict[str, Any],
    snapshot_each_epoch: bool = False,
    prompt_format: str | None = None,
) -> tuple[dict[str, torch.Tensor], list[dict], dict[str, float]]:
    """LoRA-train ``lm`` on chat ``records`` with ``transformers.Trainer`` (loss on the response only).

    Args:
        lm: base model + tokenizer (not modified: the LoRA wrapper is removed afterwards).
        records: normalised records with ``messages``.
        lora_params: ``rank, alpha, dropout, target_modules``.
        train_params: ``epochs, learning_rate, lr_scheduler, warmup_ratio, weight_decay, batch_size,
            gradient_accumulation_steps, max_length, seed``; optional ``deepspeed`` (path to a config),
            ``bf16``, and ``launcher`` (``{num_processes, command, extra_args}``): with more than one process the
            training runs as that many ranks through ``accelerate launch`` / ``torchrun``
            (:func:`data_selection.llm.launch.launch_training`), each rank running this function.
        snapshot_each_epoch: also return one snapshot per epoch: LoRA weights, AdamW moments by parameter
            name, optimiser step and the epoch's mean learning rate (what LESS needs).
        prompt_format: ``"tulu"``, ``"chat_template"`` or ``None`` (the tokenizer's template if it has one),
            see :func:`data_selection.llm.models.format_prompt`.

    Returns:
        (final LoRA state, epoch snapshots, training summary with ``train_loss``, ``train_runtime_s``,
        ``truncated_examples``).

    Raises:
        ValueError: no records.
    """
    from transformers import TrainerCallback

    if not records:
        raise ValueError("cannot fine-tune on an empty subset")
    launcher = train_params.get("launcher") or {}
    if int(launcher.get("num_processes", 1)) > 1 and not os.environ.get(WORKER_ENV):
        return launch_training(lm, records, lora_params, train_params, launcher, snapshot_each_epoch, prompt_format)
    tokenizer = lm.tokenizer
    encoded, truncated = encode_records(tokenizer, records, int(train_params["max_length"]), prompt_format)
    if truncated:
        logger.warning("%d of %d training examples truncated to %d tokens", truncated, len(records), train_params["max_length"])
    model = attach_lora(lm, lora_params)
    model.train()
    snapshots: list[dict] = []
    step_lrs: list[float] = []

    class Snapshot(TrainerCallback):
        def on_step_end(self, args, state, control, lr_scheduler=None, **kwargs):
            # learning rate *used* by the optimiser step just taken (the scheduler has already advanced)
            step = state.global_step - 1
            if lr_scheduler is not None and hasattr(lr_scheduler, "lr_lambdas"):
                step_lrs.append(float(lr_scheduler.base_lrs[0] * lr_scheduler.lr_lambdas[0](step)))
            elif lr_scheduler is not None:
                step_lrs.append(float(lr_scheduler.get_last_lr()[0]))

        def on_epoch_end(self, args, state, control, model=None, optimizer=None, **kwargs):
            if not snapshot_each_epoch:
                return
            inner = getattr(optimizer, "optimizer", optimizer)
            exp_avg, exp_avg_sq = {}, {}
            if args.deepspeed:
                # ZeRO-2 partitions the moments across ranks (LESS pitfall 4 again): DeepSpeed's own accessor
                # gathers each parameter's full fp32 state by parameter, so they stay keyed by name
                from deepspeed.utils import safe_get_full_optimizer_state

                for name, param in model.named_parameters():
                    if param.requires_grad:
                        exp_avg[name] = safe_get_full_optimizer_state(param, "exp_avg").detach().cpu().clone()
                        exp_avg_sq[name] = safe_get_full_optimizer_state(param, "exp_avg_sq").detach().cpu().clone()
            for name, param in model.named_parameters():
                if not param.requires_grad or args.deepspeed:
                    continue
                st = inner.state.get(param, {})
                if "exp_avg" not in st:
                    raise RuntimeError(f"no Adam moments for {name}: is the optimiser AdamW without DeepSpeed?")
                exp_avg[name] = st["exp_avg"].detach().cpu().clone()
                exp_avg_sq[name] = st["exp_avg_sq"].detach().cpu().clone()
            seen = sum(s["steps_in_epoch"] for s in snapshots)
            epoch_lrs = step_lrs[seen:]
            snapshots.append(
                {
                    "epoch": len(snapshots) + 1,
                    "step": int(state.global_step),
                    "steps_in_epoch": len(epoch_lrs),
                    "mean_lr": float(sum(epoch_lrs) / len(epoch_lrs)) if epoch_lrs else 0.0,
                    "lora": lora_state(model),
                    "exp_avg": exp_avg,
                    "exp_avg_sq": exp_avg_sq,
                }
            )

    with tempfile.TemporaryDirectory() as out:
        args = training_arguments(train_params, out)
        pad_id = tokenizer.pad_token_id

        def collate(batch: list[dict]) -> dict:
            return pad_batch(batch, pad_id, side="right")

        trainer = response_loss_trainer(
            model=model,
            args=args,
            train_dataset=_ChatDataset(encoded),
            data_collator=collate,
            callbacks=[Snapshot()],
        )
        result = trainer.train()
    final = lora_state(model)
    model.eval()
    lm.model = model.unload()  # strip the LoRA wrapper: the base model is left as it was
    summary = {
        "train_loss": float(result.training_loss) if not math.isnan(result.training_loss) else float("nan"),
        "train_runtime_s": float(result.metrics.get("train_runtime", 0.0)),
        "train_examples": len(records),
        "truncated_examples": int(truncated),
    }
    return final, snapshots, summary
