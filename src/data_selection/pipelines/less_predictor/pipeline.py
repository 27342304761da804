"""``less_predictor``: split -> LESS warmup + gradients for the training points -> predictor -> (step 6) -> scores.

LESS's own gradient stage (:func:`data_selection.pipelines.less.pipeline.gradient_stage`: ``sample_warmup_set``,
``warmup_lora``, ``pool_gradient_features``, ``validation_gradient_features``) runs here under the ``less_predictor``
namespace with ``params:less``: one gradient code path, and ``kedro run --pipeline=less_predictor`` runs alone (no dependency on a previous ``less`` run). With the
same pool and ``params:less`` the warmup checkpoints are the ones ``less`` trains (seeded).
"""

from kedro.pipeline import Pipeline, node

from data_selection.pipelines.less.pipeline import gradient_stage

from .nodes import candidate_influence, combine_scores, embed_pool, fit_predictors, real_influence, split_pool


def create_pipeline(**kwargs) -> Pipeline:
    """The predictor's nodes, un-namespaced (the registry puts them under ``less_predictor``); ends in ``scores``."""
    return Pipeline(
        [
            node(split_pool, ["pool", "target_validation", "params:less_predictor"], ["training_points", "pool_split"], name="split_pool"),
            *gradient_stage("training_points", "training_features", "training_gradient_timings", "training_gradient_features",
                            shards="training_gradient_shards"),
            node(
                real_influence,
                ["training_points", "training_features", "validation_features", "warmup_summary", "target_validation", "params:less"],
                "training_influence",
                name="training_influence",
            ),
            node(embed_pool, ["sentence_embedder", "base_model", "pool", "params:less_predictor", "params:less"], "pool_embeddings", name="embed_pool"),
            node(
                fit_predictors,
                ["pool", "pool_embeddings", "pool_split", "training_influence", "target_validation", "params:less_predictor"],
                ["predictions", "predictor_report", "candidates"],
                name="fit_predictors",
            ),
            node(
                candidate_influence,
                ["base_model", "warmup_checkpoints", "candidates", "candidate_gradient_shards", "validation_features", "warmup_summary", "target_validation", "params:less"],
                ["candidate_influence", "candidate_gradient_timings"],
                name="candidate_influence",
            ),
            node(
                combine_scores,
                ["pool", "training_influence", "candidate_influence", "predictions", "validation_features", "warmup_summary", "params:less_predictor"],
                ["scores", "gradient_counts"],
                name="combine_scores",
            ),
        ]
    )
