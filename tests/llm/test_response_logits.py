"""The output head at the response positions only: the same logits, losses and training as the full forward.

Every check compares against the model's own ``model(...).logits`` / stock ``Trainer`` loss, an independent path.
"""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from data_selection.llm.models import IGNORE_INDEX, pad_batch  # noqa: E402
from data_selection.llm.response_logits import (  # noqa: E402
    labelled_logits,
    per_example_response_nll,
    split_head,
)

VOCAB = 60


def _llama():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=64, pad_token_id=0,
    )
    return transformers.LlamaForCausalLM(config).eval()


def _gemma3(softcap):
    torch.manual_seed(0)
    config = transformers.Gemma3TextConfig(
        vocab_size=VOCAB, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, head_dim=8, max_position_embeddings=64, pad_token_id=0,
        final_logit_softcapping=softcap, sliding_window=8,
    )
    return transformers.Gemma3ForCausalLM(config).eval()


def _gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=16, n_layer=2, n_head=2, n_positions=64)
    return transformers.GPT2LMHeadModel(config).eval()


def _batch():
    """Three right-padded rows of lengths 6, 9, 4 with 2-, 3- and 1-token prompts."""
    generator = torch.Generator().manual_seed(1)
    rows = []
    for length, prompt in ((6, 2), (9, 3), (4, 1)):
        ids = torch.randint(3, VOCAB, (length,), generator=generator).tolist()
        rows.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    return pad_batch(rows, 0, side="right")


def _reference(model, batch):
    """Full logits, shifted, gathered at labelled next tokens; per-row mean NLL (independent of the module)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE_INDEX
    nll = []
    for row in range(labels.shape[0]):
        lp = torch.log_softmax(logits[row][keep[row]].double(), dim=-1)
        nll.append(-lp.gather(1, labels[row][keep[row]][:, None]).mean())
    return logits[keep], labels[keep], torch.stack(nll)


@pytest.mark.parametrize(
    "build, split",
    [(_llama, True), (lambda: _gemma3(None), True), (lambda: _gemma3(3.0), True), (_gpt2, False)],
    ids=["llama", "gemma3", "gemma3-softcap", "gpt2-fallback"],
)
def test_labelled_logits_equal_the_full_forward(build, split):
    model = build()
    assert (split_head(model) is not None) is split
    batch = _batch()
    with torch.no_grad():
        logits, targets, rows = labelled_logits(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        want_logits, want_targets, want_nll = _reference(model, batch)
        nll = per_example_response_nll(
            model, batch["input_ids"], batch["attention_mask"], batch["labels"], dtype=torch.float64
        )
    # 5 + 6 + 3 labelled next tokens, rows in row-major order
    assert rows.tolist() == [0] * 4 + [1] * 6 + [2] * 3
    assert torch.equal(targets, want_targets)
    torch.testing.assert_close(logits, want_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(nll, want_nll, rtol=1e-6, atol=1e-6)


def test_softcapping_is_applied():
    """A cap of 0.5 bounds every logit by 0.5 (random init logits of the tiny model exceed it uncapped)."""
    model = _gemma3(0.5)
    batch = _batch()
    with torch.no_grad():
        logits, _, _ = labelled_logits(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    assert logits.abs().max() <= 0.5


def test_peft_wrapped_model_is_split_and_gradients_match():
    peft = pytest.importorskip("peft")
    base = _llama()
    model = peft.get_peft_model(
        base, peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    )
    with torch.no_grad():  # non-zero B so that the LoRA path matters
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    assert split_head(model) is not None
    batch = _batch()
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}
    fast = per_example_response_nll(model, **inputs).sum()
    fast_grads = torch.autograd.grad(fast, [p for p in model.parameters() if p.requires_grad])
    slow = _reference(model, batch)[2].float().sum()
    slow_grads = torch.autograd.grad(slow, [p for p in model.parameters() if p.requires_grad])
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)
    for a, b in zip(fast_grads, slow_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("accumulation", [1, 2])
def test_response_loss_trainer_trains_like_the_stock_trainer(tmp_path, monkeypatch, accumulation):
    """Same init, data and seed: the LoRA weights after 8 / accumulation optimiser steps agree with the stock
    Trainer's, and the head-only path is the one that ran."""
    peft = pytest.importorskip("peft")
    from transformers import Trainer

    import data_selection.llm.response_logits as response_logits

    calls = []
    original = response_logits.labelled_logits
    monkeypatch.setattr(response_logits, "labelled_logits", lambda *a, **k: calls.append(1) or original(*a, **k))

    from data_selection.llm.training import _ChatDataset, response_loss_trainer, training_arguments

    generator = torch.Generator().manual_seed(2)
    examples = []
    for i in range(16):
        length, prompt = 5 + i % 6, 1 + i % 3
        ids = torch.randint(3, VOCAB, (length,), generator=generator).tolist()
        examples.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    params = {"epochs": 1, "learning_rate": 1e-2, "batch_size": 2, "gradient_accumulation_steps": accumulation,
              "seed": 0, "logging_steps": 1}
    lora = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    base = _llama()
    results, losses = [], []
    for factory in (Trainer, response_loss_trainer):
        torch.manual_seed(0)
        model = peft.get_peft_model(copy.deepcopy(base), copy.deepcopy(lora))
        model.train()
        trainer = factory(
            model=model,
            args=training_arguments({**params}, str(tmp_path / factory.__name__)),
            train_dataset=_ChatDataset(examples),
            data_collator=lambda rows: pad_batch(rows, 0, side="right"),
        )
        losses.append(trainer.train().training_loss)
        results.append({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
    assert len(calls) == 8  # one head-only loss per micro-batch of the second trainer
    assert abs(losses[0] - losses[1]) < 1e-5
    assert results[0].keys() == results[1].keys()
    moved = max(float((results[0][n] - dict(_initial_lora(base, lora))[n]).abs().max()) for n in results[0])
    assert moved > 1e-3  # training did something, so agreement is not trivial
    for name in results[0]:
        torch.testing.assert_close(results[1][name], results[0][name], rtol=1e-4, atol=1e-5)


def _initial_lora(base, lora):
    peft = pytest.importorskip("peft")
    torch.manual_seed(0)
    model = peft.get_peft_model(copy.deepcopy(base), copy.deepcopy(lora))
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}.items()


@pytest.mark.slow
@pytest.mark.parametrize("entry_name", ["base_model", "large_target_model"])
def test_real_models_head_only_logits_match(entry_name, request):
    """SmolLM2-135M (llama) and Gemma-3-270M (gemma3_text) from the catalog: the split path is taken and agrees."""
    from pathlib import Path

    from kedro.config import OmegaConfigLoader

    from data_selection.config import package_path
    from data_selection.io.datasets import PretrainedModelDataset

    root = Path(__file__).resolve().parents[2]
    catalog = OmegaConfigLoader(str(root / "conf"), base_env="base", default_run_env="test",
                                custom_resolvers={"pkg": package_path})["catalog"]
    entry = dict(catalog[entry_name])
    entry.pop("type"), entry.pop("metadata", None)
    entry["source"] = str(root / entry["source"]) if not Path(entry["source"]).is_absolute() else entry["source"]
    cache = root / entry["cache_dir"]
    entry["cache_dir"] = str(cache if cache.parent.is_dir() else request.config.cache.mkdir(entry_name) / cache.name)
    lm = PretrainedModelDataset(**entry).load()
    assert split_head(lm.model) is not None
    rows = []
    for text, prompt in (("The capital of France is Paris.", 4), ("Two plus two equals four, said the teacher.", 3)):
        ids = lm.tokenizer(text)["input_ids"]
        rows.append({"input_ids": ids, "labels": [IGNORE_INDEX] * prompt + ids[prompt:]})
    batch = pad_batch(rows, lm.tokenizer.pad_token_id, side="right")
    with torch.no_grad():
        logits, targets, _ = labelled_logits(lm.model, batch["input_ids"], batch["attention_mask"], batch["labels"])
        want_logits, want_targets, want_nll = _reference(lm.model, batch)
        nll = per_example_response_nll(
            lm.model, batch["input_ids"], batch["attention_mask"], batch["labels"], dtype=torch.float64
        )
    assert torch.equal(targets, want_targets)
    torch.testing.assert_close(logits, want_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(nll, want_nll, rtol=1e-6, atol=1e-6)
