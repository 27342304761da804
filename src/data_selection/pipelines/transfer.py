"""Small selects for large: a method's scores computed with the small model, judged on another target.

Small2Large's question ("can a small model choose data for a larger one?") applies to every scoring method. A
*transferred* method reads the persisted ``<source>.scores`` of a method that scored the pool with SmolLM2 (its warmup
gradients, its ratings) and sends the same top budget through the text track of another ``target_model``
(``large_target_model``: Gemma-3-270M), so that it is compared with the random baseline of that target
(``random_large``) on the same test questions and budget. No scoring is recomputed: run the source method first
(``kedro run --pipeline=<source>``); in ``compare_all`` the source's nodes run before it.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
from kedro.pipeline import Pipeline, node

from data_selection.pipelines.registry import Method


def reuse_scores(pool: list[dict], source_scores: pd.DataFrame, source: str = "the source method") -> pd.DataFrame:
    """The source method's scores table, checked against the current pool (a copy: the input is not modified).

    Args:
        pool: the shared pool records (``id`` in pool order).
        source_scores: ``<source>.scores``, one row per pool example in pool order (``id, score, ...``).
        source: the source method's pipeline name, for the error message.

    Returns:
        a copy of ``source_scores`` (same rows, same columns), which the shared ``select`` stage turns into the top
        budget, i.e. exactly the rows of ``<source>.selection``.

    Raises:
        ValueError: the table lacks ``id``/``score``, or its ids are not the pool's ids in pool order (the scores are
            from another pool: rerun ``kedro run --pipeline=<source>`` with the same configuration environment).
    """
    missing = {"id", "score"} - set(source_scores.columns)
    if missing:
        raise ValueError(f"{source}.scores lacks column(s) {sorted(missing)}")
    ids = source_scores["id"].astype(str).tolist()
    pool_ids = [str(r["id"]) for r in pool]
    if ids != pool_ids:
        shared = len(set(ids) & set(pool_ids))
        order = ", in another order" if shared == len(ids) == len(pool_ids) else ""
        raise ValueError(
            f"{source}.scores does not score the current pool ({len(ids)} rows, {shared} of the pool's "
            f"{len(pool_ids)} ids{order}): run `kedro run --pipeline={source}` first, with the same --env"
        )
    return source_scores.copy()


def transferred_method(source: str, name: str, target_model: str, description: str) -> Method:
    """A :class:`Method` that judges ``<source>``'s scores on ``target_model``.

    Args:
        source: a registered scoring method (``output="scores"``) whose ``<source>.scores`` this method reads.
        name: the new method's name (its namespace and pipeline).
        target_model: the shared catalog entry its text track fine-tunes and evaluates.
        description: one line for the README and the comparison report.
    """

    def create_pipeline(**kwargs) -> Pipeline:
        import warnings

        with warnings.catch_warnings():
            # reads another method's dataset by its full, dotted name
            warnings.filterwarnings("ignore", message="One or more dataset names contain")
            reuse = node(partial(reuse_scores, source=source), ["pool", f"{source}.scores"], "scores",
                         name=f"reuse_{source}_scores")
        return Pipeline([reuse])

    return Method(
        name=name,
        track="text",
        create_selection=create_pipeline,
        output="scores",
        inputs=frozenset({"pool", f"{source}.scores"}),
        description=description,
        target_model=target_model,
    )
