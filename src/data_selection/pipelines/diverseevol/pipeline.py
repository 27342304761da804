"""``diverseevol``: rounds statically unrolled as nodes, each with its own catalog outputs (resumable), then the
final set as ``selection`` and the per-round Vendi report.

    pool ─► evolve_round_0 ─► round_0_{selection, adapter, finetune_summary}
    round_{r-1}_{selection, adapter} ─► evolve_round_r ─► round_r_{selection, embedding_summary, adapter, finetune_summary}
    round_10_selection ─► final_selection ─► selection (then the text track)
    every round + sentence_embedder ─► report_rounds ─► round_metrics, vendi_plot, round_mlflow_metrics

Rounds beyond ``diverseevol.n_round`` pass the set on and train nothing (see ``parameters.MAX_ROUNDS``).
"""

from kedro.pipeline import Pipeline, node

from .nodes import evolve_round_0, final_selection, for_round, report_rounds
from .parameters import MAX_ROUNDS

COMMON = ["target_test", "params:diverseevol", "params:selection", "params:evaluate"]


def create_pipeline(**kwargs) -> Pipeline:
    nodes = [
        node(
            evolve_round_0,
            ["base_model", "pool", *COMMON],
            ["round_0_selection", "round_0_adapter", "round_0_finetune_summary"],
            name="evolve_round_0",
        )
    ]
    for r in range(1, MAX_ROUNDS + 1):
        nodes.append(
            node(
                for_round(r),
                ["base_model", "pool", f"round_{r - 1}_selection", f"round_{r - 1}_adapter", *COMMON],
                [f"round_{r}_selection", f"round_{r}_embedding_summary", f"round_{r}_adapter", f"round_{r}_finetune_summary"],
                name=f"evolve_round_{r}",
            )
        )
    nodes.append(
        node(final_selection, [f"round_{MAX_ROUNDS}_selection", "pool", "params:selection"], "selection", name="final_selection")
    )
    per_round = [name for r in range(MAX_ROUNDS + 1) for name in (f"round_{r}_selection", f"round_{r}_finetune_summary")]
    nodes.append(
        node(
            report_rounds,
            ["pool", "sentence_embedder", "params:diverseevol", *per_round],
            ["round_metrics", "vendi_plot", "round_mlflow_metrics"],
            name="report_rounds",
        )
    )
    return Pipeline(nodes)
