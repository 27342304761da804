"""The Dataset Quantization pipeline factory: one feature node per track, everything after it shared.

``dq_text`` = ``create_dq_pipeline(<sentence-embedding node>)``; an image track's ``dq_image`` is the same call with a
gradient-embedding node that also returns class labels (bins per class, ``bins.per_class: true``).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline, node

from .nodes import generate_bins, plot_bins, sample_selection


def create_dq_pipeline(feature_node: Node | Pipeline, pool: str = "pool", budget: str = "params:selection") -> Pipeline:
    """DQ's nodes after the features, un-namespaced (the registry puts them under the method's name).

    Args:
        feature_node: a node (or a pipeline of nodes) whose output is ``features``: ``{"features": (N, d) float
            array in pool order, "labels": optional (N,) class labels}``.
        pool: the pool dataset the features are rows of (records, a table with ``id``, or image arrays with ``ids``).
        budget: the track's budget parameters: ``params:selection`` (text) or ``params:image_selection`` (IPC).

    Datasets: ``features`` -> ``bins`` (+ ``bin_summary``, ``bin_metrics``) -> ``selection`` and ``bin_plot``.
    Parameters: ``params:bins`` and ``params:sampling`` (the method's own, so ``params:<method>.bins`` once
    namespaced), and the shared ``budget`` and ``params:judge``.

    Raises:
        ValueError: ``feature_node`` does not output ``features``.
    """
    features = Pipeline([feature_node]) if isinstance(feature_node, Node) else feature_node
    if "features" not in features.all_outputs():
        raise ValueError(f"the DQ feature node must output 'features', got {sorted(features.all_outputs())}")
    return features + Pipeline(
        [
            node(generate_bins, [pool, "features", "params:bins"], ["bins", "bin_summary", "bin_metrics"],
                 name="generate_bins"),
            node(sample_selection, ["bins", budget, "params:judge", "params:sampling"], "selection",
                 name="sample_bins"),
            node(plot_bins, ["features", "bins", "bin_summary"], "bin_plot", name="plot_bins"),
        ]
    )
