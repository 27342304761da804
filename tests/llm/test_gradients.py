"""Per-example LoRA gradients from one batched pass vs. a batch-size-1 autograd reference."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("peft")

from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402

from data_selection.llm.gradients import (  # noqa: E402
    LoraGradientCollector,
    iterate_gradients,
    lora_parameter_names,
    per_example_loss,
)
from data_selection.llm.models import IGNORE_INDEX, pad_batch  # noqa: E402

PAD_ID = 0
LENGTHS = (5, 9, 7)
PROMPT_TOKENS = 2


def _tiny_lora_model(dtype: torch.dtype):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        pad_token_id=PAD_ID,
    )
    model = LlamaForCausalLM(config).to(dtype)
    model.config.use_cache = False
    peft_model = get_peft_model(
        model,
        LoraConfig(
            r=2,
            lora_alpha=4,
            lora_dropout=0.0,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
            task_type="CAUSAL_LM",
        ),
    )
    # peft initialises lora_B to zero, which would make every lora_A gradient zero: randomise all of them
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                torch.nn.init.normal_(param, std=0.1)
    peft_model.eval()
    return peft_model


def _examples():
    generator = torch.Generator().manual_seed(2)
    examples = []
    for n in LENGTHS:
        ids = torch.randint(1, 50, (n,), generator=generator).tolist()
        labels = [IGNORE_INDEX] * PROMPT_TOKENS + ids[PROMPT_TOKENS:]
        examples.append({"input_ids": ids, "labels": labels})
    return examples


def _reference_gradients(model, names, examples):
    """LESS-style loop: each example alone (batch of 1, no padding), mean CE over labelled tokens."""
    params = dict(model.named_parameters())
    wrt = [params[n] for n in names]
    rows = []
    for e in examples:
        ids = torch.tensor([e["input_ids"]])
        labels = torch.tensor([e["labels"]])
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        loss = torch.nn.functional.cross_entropy(
            logits[0, :-1].reshape(-1, logits.shape[-1]), labels[0, 1:], ignore_index=IGNORE_INDEX
        )
        grads = torch.autograd.grad(loss, wrt)
        rows.append(torch.cat([g.flatten() for g in grads]))
    return torch.stack(rows)


@pytest.fixture(scope="module")
def model64():
    return _tiny_lora_model(torch.float64)


@pytest.fixture(scope="module")
def model32():
    return _tiny_lora_model(torch.float32)


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"),
    # gradients() returns float32 and contracts in float32, so float64 is bounded by float32 accumulation
    [(torch.float64, 1e-5, 1e-8), (torch.float32, 1e-4, 1e-6)],
    ids=["float64", "float32"],
)
def test_batched_gradients_match_batch_size_one_reference(request, dtype, rtol, atol):
    model = request.getfixturevalue("model64" if dtype == torch.float64 else "model32")
    examples = _examples()
    batch = pad_batch(examples, pad_id=PAD_ID, side="right")
    assert batch["input_ids"].shape == (3, max(LENGTHS))
    assert (batch["attention_mask"] == 0).any()  # padding really is exercised

    collector = LoraGradientCollector(model)
    try:
        got = collector.gradients(batch["input_ids"], batch["labels"], batch["attention_mask"])
    finally:
        collector.close()
    expected = _reference_gradients(model, collector.names, examples)

    assert got.dtype == torch.float32
    assert got.shape == (len(examples), collector.dim)
    # the test is meaningful: lora_A and lora_B gradients are non-zero and differ between examples
    offset = 0
    for name, shape in zip(collector.names, collector.shapes):
        size = math.prod(shape)
        assert expected[:, offset : offset + size].abs().amax() > 0, name
        offset += size
    assert not torch.allclose(expected[0], expected[1])
    torch.testing.assert_close(got.double(), expected.double(), rtol=rtol, atol=atol)


def test_gradients_do_not_depend_on_batch_composition(model64):
    examples = _examples()
    with LoraGradientCollector(model64) as collector:
        together = collector.gradients(**pad_batch(examples, PAD_ID))
        alone = torch.cat([collector.gradients(**pad_batch([e], PAD_ID)) for e in examples])
        # a second call on the same collector gives the same answer (records are cleared)
        again = collector.gradients(**pad_batch(examples, PAD_ID))
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(together, again, rtol=0, atol=0)


def test_iterate_gradients_yields_blocks_and_removes_hooks(model64):
    examples = _examples()
    batches = [pad_batch(examples[:2], PAD_ID), pad_batch(examples[2:], PAD_ID)]
    blocks = list(iterate_gradients(model64, iter(batches)))
    assert [b.shape[0] for b in blocks] == [2, 1]
    with LoraGradientCollector(model64) as collector:
        expected = collector.gradients(**pad_batch(examples, PAD_ID))
    torch.testing.assert_close(torch.cat(blocks), expected, rtol=1e-5, atol=1e-7)
    # no hook left behind by iterate_gradients
    for module in model64.modules():
        assert not module._forward_hooks


def test_collector_dim_names_and_shapes(model32):
    with LoraGradientCollector(model32) as collector:
        trainable = [(n, p) for n, p in model32.named_parameters() if p.requires_grad]
        assert collector.names == [n for n, _ in trainable]
        assert collector.dim == sum(p.numel() for _, p in trainable)
        assert collector.shapes == [tuple(p.shape) for _, p in trainable]
        # 2 layers x 4 projections x (A and B)
        assert len(collector.names) == 2 * 4 * 2
        assert all("lora_A" in n or "lora_B" in n for n in collector.names)


def test_lora_parameter_names_rejects_non_lora_trainable(model32):
    base = torch.nn.Linear(3, 3)
    with pytest.raises(ValueError, match="LoRA"):
        lora_parameter_names(base)
    frozen = torch.nn.Linear(3, 3).requires_grad_(False)
    with pytest.raises(ValueError, match="LoRA"):
        lora_parameter_names(frozen)


def test_row_without_labels_raises(model32):
    examples = _examples()
    examples[1] = {"input_ids": examples[1]["input_ids"], "labels": [IGNORE_INDEX] * LENGTHS[1]}
    batch = pad_batch(examples, PAD_ID)
    with LoraGradientCollector(model32) as collector:
        with pytest.raises(ValueError, match=r"\[1\]"):
            collector.gradients(**batch)


def test_left_padding_raises(model32):
    batch = pad_batch(_examples(), PAD_ID, side="left")
    with LoraGradientCollector(model32) as collector:
        with pytest.raises(ValueError, match="right padding"):
            collector.gradients(**batch)


def test_close_removes_hooks(model32):
    batch = pad_batch(_examples(), PAD_ID)
    collector = LoraGradientCollector(model32)
    assert collector._handles
    with torch.enable_grad():
        model32(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert collector._records  # hooks are live
    collector._records.clear()
    collector.close()
    assert collector._handles == []
    with torch.enable_grad():
        model32(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert collector._records == {}
    for module in model32.modules():
        assert not module._forward_hooks


def test_hooks_ignore_no_grad_passes(model32):
    batch = pad_batch(_examples(), PAD_ID)
    with LoraGradientCollector(model32) as collector:
        with torch.no_grad():
            model32(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        assert collector._records == {}


# --------------------------------------------------------------------------- per_example_loss


def _ce(logit_row, target):
    return -(logit_row[target] - math.log(sum(math.exp(v) for v in logit_row)))


def test_per_example_loss_by_hand():
    # batch 2, seq 4, vocab 3
    logits_list = [
        [[0.0, 1.0, 2.0], [1.0, -1.0, 0.5], [0.3, 0.3, 0.3], [9.0, 9.0, 9.0]],
        [[2.0, 0.0, -2.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [5.0, 5.0, 5.0]],
    ]
    labels_list = [
        [IGNORE_INDEX, 2, 0, 1],  # predictions from positions 0, 1, 2 -> targets 2, 0, 1
        [IGNORE_INDEX, IGNORE_INDEX, 1, IGNORE_INDEX],  # only position 1 -> target 1
    ]
    logits = torch.tensor(logits_list, dtype=torch.float64)
    labels = torch.tensor(labels_list)
    got = per_example_loss(logits, labels)

    expected_0 = (_ce(logits_list[0][0], 2) + _ce(logits_list[0][1], 0) + _ce(logits_list[0][2], 1)) / 3
    expected_1 = _ce(logits_list[1][1], 1)
    assert got.shape == (2,)
    assert got[0].item() == pytest.approx(expected_0, rel=1e-6)
    assert got[1].item() == pytest.approx(expected_1, rel=1e-6)


def test_per_example_loss_first_label_is_never_a_target():
    # a label at position 0 has no preceding position to predict it: it is ignored by the shift
    logits = torch.zeros(1, 3, 3)
    only_first = torch.tensor([[1, IGNORE_INDEX, IGNORE_INDEX]])
    assert torch.isnan(per_example_loss(logits, only_first)).all()


def test_per_example_loss_nan_for_example_without_labels():
    logits = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0))
    labels = torch.full((3, 5), IGNORE_INDEX)
    labels[0, 2:] = torch.tensor([1, 2, 3])
    labels[2, 4] = 0
    got = per_example_loss(logits, labels)
    assert torch.isfinite(got[0]) and torch.isfinite(got[2])
    assert torch.isnan(got[1])
    manual = torch.nn.functional.cross_entropy(logits[0, 1:4], labels[0, 2:5])
    torch.testing.assert_close(got[0], manual)
    torch.testing.assert_close(got[2], torch.nn.functional.cross_entropy(logits[2, 3:4], labels[2, 4:5]))
