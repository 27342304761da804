"""``select``: scores -> selection (top budget) and a score plot, under a scoring method's namespace."""

from kedro.pipeline import Pipeline, node

from .nodes import score_distribution_plot, select_top_k


def create_pipeline(namespace: str) -> Pipeline:
    """``<ns>.scores`` -> ``<ns>.selection`` + ``<ns>.selection_plot`` (budget from the shared ``params:selection``)."""
    template = Pipeline(
        [
            node(select_top_k, ["scores", "params:selection"], "selection", name="select_top_k"),
            node(score_distribution_plot, ["scores", "selection"], "selection_plot", name="plot_scores"),
        ]
    )
    return Pipeline(template, namespace=namespace, parameters={"params:selection"}, tags=[namespace, "select"])
