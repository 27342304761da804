"""``less_large``: LESS's selection made with SmolLM2 (its warmup checkpoints and gradients), fine-tuned and evaluated
on the large target (Gemma-3-270M), beside Small2Large, ``clust_rand`` and ``random_large`` (issue 10, item 3)."""

from data_selection.pipelines.transfer import transferred_method

METHOD = transferred_method(
    "less",
    name="less_large",
    target_model="large_target_model",
    description="LESS's SmolLM2 selection (reads less.scores), fine-tuned and evaluated on the large target (Gemma-3-270M)",
)

__all__ = ["METHOD"]
