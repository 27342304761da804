"""``diverseevol``: the typed schema of ``conf/base/parameters_diverseevol.yml``, validated by Kedro before any node runs."""

from __future__ import annotations

from pydantic import Field, model_validator

from data_selection.pipelines.parameters import FinetuneParams, Params

#: round slots the pipeline unrolls (the paper's 10 rounds); ``n_round`` may use fewer, the rest are skipped
MAX_ROUNDS = 10


class EmbeddingParams(Params):
    """How the pool is embedded with the previous round's model (official: ``model_max_length`` 512, batch 1)."""

    max_length: int = Field(512, ge=8)
    batch_size: int = Field(8, ge=1)


class VendiParams(Params):
    """The fixed-embedder Vendi score per round, with random sets of the same sizes beside it."""

    batch_size: int = Field(32, ge=1)
    random_draws: int = Field(5, ge=1)


class DiverseEvolParams(Params):
    """``diverseevol`` (Wu et al. 2023, arXiv 2311.08182): round 0 random, then k-center rounds.

    The final set has ``init_label_num + n_round * n_query`` examples, which must equal the shared budget
    (``selection``); ``n_query: null`` derives it as ``(budget - init_label_num) / n_round`` (checked against the pool
    by :func:`round_sizes` in the first node, before any model work).
    """

    init_label_num: int = Field(ge=1)
    n_round: int = Field(ge=1, le=MAX_ROUNDS)
    n_query: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0)
    embedding: EmbeddingParams = EmbeddingParams()
    round_finetune: FinetuneParams
    evaluate_every_round: bool = False
    round_eval_questions: int | None = Field(None, ge=1)
    vendi: VendiParams = VendiParams()

    @model_validator(mode="after")
    def _rounds(self):
        if self.round_eval_questions is not None and not self.evaluate_every_round:
            raise ValueError("round_eval_questions is set but evaluate_every_round is false: set both or neither")
        return self


def round_sizes(budget: int, params: dict) -> list[int]:
    """Cumulative set size after each round 0..n_round; the last one equals ``budget``.

    Raises:
        ValueError: ``init_label_num + n_round * n_query`` differs from the budget, or (``n_query`` null) the
            remainder ``budget - init_label_num`` is not a positive multiple of ``n_round``.
    """
    init, rounds, query = int(params["init_label_num"]), int(params["n_round"]), params.get("n_query")
    if query is None:
        rest = budget - init
        if rest < rounds or rest % rounds:
            raise ValueError(
                f"diverseevol: budget {budget} - init_label_num {init} = {rest} is not a positive multiple of "
                f"n_round {rounds}; change init_label_num or n_round, or the shared selection budget"
            )
        query = rest // rounds
    total = init + rounds * int(query)
    if total != budget:
        raise ValueError(
            f"diverseevol: init_label_num + n_round * n_query = {init} + {rounds} * {query} = {total}, but the shared "
            f"budget (selection.*) is {budget}; set n_query: null to derive it, or change the schedule"
        )
    return [init + r * int(query) for r in range(rounds + 1)]
