"""Per-example LoRA gradients for a whole batch from one forward and one backward pass.

For a LoRA layer ``y = W x + s · B(A(x))`` the gradient of example n's loss with respect to A and B is a
sum over that example's tokens t of outer products (Hu et al. 2021, Eq. 3; the "ghost" per-sample gradient
of Goodfellow 2015 / Opacus for linear layers):

    ∇_A L_n = Σ_t (∂L/∂a_{n,t}) ⊗ x_{n,t}        a = A(x), shape (r,)   -> (r, d_in)
    ∇_B L_n = Σ_t (∂L/∂b_{n,t}) ⊗ a_{n,t}        b = B(a), shape (d_out,) -> (d_out, r)

Forward hooks keep x, a (inputs) and the outputs a, b; ``torch.autograd.grad`` of Σ_n L_n with respect to
those outputs gives every ∂L/∂·_{n,t} at once, because examples in a batch do not interact (right padding,
causal attention, padded positions carry no loss). Two einsums then give all per-example gradients. This
replaces LESS's batch-size-1 loop (``collect_grad_reps.py``) with batched work; the test suite checks it
against that loop.

L_n is the mean token cross-entropy over example n's response tokens, as with batch size 1 in LESS.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from data_selection.llm.models import IGNORE_INDEX
from data_selection.llm.response_logits import per_example_response_nll


def lora_parameter_names(model: torch.nn.Module) -> list[str]:
    """Names of the trainable LoRA parameters, in ``named_parameters()`` order (the flattening order)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not names or not all("lora_" in n for n in names):
        raise ValueError("expected a PEFT model whose only trainable parameters are LoRA A/B matrices")
    return names


def per_example_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over each example's labelled tokens.

    Args:
        logits: (batch, seq, vocab) float.
        labels: (batch, seq) int64 with -100 on ignored positions.

    Returns:
        (batch,) float; an example with no labelled token gets NaN.
    """
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    token_loss = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.shape[-1]),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(shift_labels.shape)
    counts = (shift_labels != IGNORE_INDEX).sum(dim=1)
    return token_loss.sum(dim=1) / counts.clamp(min=1).where(counts > 0, torch.zeros_like(counts))


class LoraGradientCollector:
    """Collect flattened per-example LoRA gradients from a PEFT model.

    Args:
        model: a ``peft`` model with LoRA adapters; only LoRA parameters may require grad.

    ``gradients(batch)`` returns float32 (batch, D), D = number of LoRA parameters, flattened in
    :func:`lora_parameter_names` order, each matrix row-major (``param.flatten()``).
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.names = lora_parameter_names(model)
        params = dict(model.named_parameters())
        self.shapes = [tuple(params[n].shape) for n in self.names]
        self.dim = sum(params[n].numel() for n in self.names)
        modules = dict(model.named_modules())
        self._records: dict[str, dict] = {}
        self._handles = []
        # parameter "…lora_A.default.weight" belongs to the module "…lora_A.default"
        self._module_of = {n: n.rsplit(".", 1)[0] for n in self.names}
        for module_name in set(self._module_of.values()):
            self._handles.append(modules[module_name].register_forward_hook(self._hook(module_name)))

    def _hook(self, module_name: str):
        def hook(module, inputs, output):
            if torch.is_grad_enabled():
                self._records[module_name] = {"input": inputs[0].detach(), "output": output}

        return hook

    def close(self) -> None:
        """Remove the forward hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def gradients(self, input_ids: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Per-example gradients of each example's mean response loss.

        Args:
            input_ids, labels, attention_mask: (batch, seq) int64, right-padded.

        Returns:
            float32 tensor (batch, D) on the model's device.

        Raises:
            ValueError: an example has no labelled token (its loss, and gradient, would be undefined).
        """
        if (attention_mask[:, :1] == 0).any():
            raise ValueError("per-example gradients need right padding (first position of every row attended)")
        self._records.clear()
        with torch.enable_grad():
            # the output head only at the response positions (response_logits): same losses as
            # per_example_loss(model(...).logits, labels), without projecting prompt and padding onto the vocabulary
            losses = per_example_response_nll(self.model, input_ids, attention_mask, labels)
            if torch.isnan(losses).any():
                bad = torch.nonzero(torch.isnan(losses)).flatten().tolist()
                raise ValueError(f"examples at batch rows {bad} have no response tokens after truncation")
            module_names = [self._module_of[n] for n in self.names]
            outputs = [self._records[m]["output"] for m in module_names]
            grads = torch.autograd.grad(losses.sum(), outputs)
        pieces = []
        for name, module_name, grad_out in zip(self.names, module_names, grads):
            x = self._records[module_name]["input"]
            # (n, t, out) x (n, t, in) -> (n, out, in): weight-shaped gradient of each example
            per_example = torch.einsum("nto,nti->noi", grad_out.float(), x.float())
            pieces.append(per_example.reshape(per_example.shape[0], -1))
        self._records.clear()
        return torch.cat(pieces, dim=1)


def iterate_gradients(
    model: torch.nn.Module,
    batches: Iterator[dict[str, torch.Tensor]],
) -> Iterator[torch.Tensor]:
    """Yield per-example gradient blocks (batch, D) for each batch; hooks are removed at the end."""
    with LoraGradientCollector(model) as collector:
        for batch in batches:
            yield collector.gradients(batch["input_ids"], batch["labels"], batch["attention_mask"])
