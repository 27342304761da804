"""The Dataset Quantization pipeline factory: one feature node per track, everything after it shared.

``dq_text`` = ``create_dq_pipeline(<sentence-embedding node>)``; an image track's ``dq_image`` is the same call with a
gradient-embedding node that also returns class labels (bins per class, ``bins.per_class: true``).
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline, node

from .nodes import generate_bins, plot_bins, sample_selection


def create_dq_pipeline(feature_node: Node, pool: str = "pool") -> Pipeline:
    """DQ's nodes after the features, un-namespaced (the registry puts them under the method's name).

    Args:
        feature_node: a node whose output is ``features``: ``{"features": (N, d) float array in pool order,
            "labels": optional (N,) class labels}``.
        pool: the pool dataset the features are rows of (records or a table with ``id``).

    Datasets: ``features`` -> ``bins`` (+ ``bin_summary``, ``bin_metrics``) -> ``selection`` and ``bin_plot``.
    Parameters: ``params:bins`` and ``params:sampling`` (the method's own, so ``params:<method>.bins`` once
    namespaced), and the shared ``params:selection`` and ``params:judge``.

    Raises:
        ValueError: ``feature_node`` does not output ``features``.
    """
    if "features" not in feature_node.outputs:
        raise ValueError(f"the DQ feature node must output 'features', got {feature_node.outputs}")
    return Pipeline(
        [
            feature_node,
            node(generate_bins, [pool, "features", "params:bins"], ["bins", "bin_summary", "bin_metrics"],
                 name="generate_bins"),
            node(sample_selection, ["bins", "params:selection", "params:judge", "params:sampling"], "selection",
                 name="sample_bins"),
            node(plot_bins, ["features", "bins", "bin_summary"], "bin_plot", name="plot_bins"),
        ]
    )
