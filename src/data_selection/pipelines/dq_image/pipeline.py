"""``dq_image``: train the feature network -> last-layer gradient embeddings -> GraphCut bins per class -> IPC
sampled from every bin -> the optional pixel stage (then the shared image track, which trains on the quantized
pixels where the pixel stage ran)."""

from kedro.pipeline import Pipeline, node

from data_selection.pipelines.dq import create_dq_pipeline

from .nodes import gradient_features, quantize_pixels, train_feature_model


def create_pipeline(**kwargs) -> Pipeline:
    features = Pipeline(
        [
            node(train_feature_model, ["image_pool", "params:dq_image", "params:image_selection", "params:image_train"],
                 ["feature_model", "feature_model_summary"], name="train_feature_model"),
            node(gradient_features, ["image_pool", "feature_model", "params:dq_image"], "features",
                 name="gradient_features"),
        ]
    )
    dq = create_dq_pipeline(features, pool="image_pool", budget="params:image_selection")
    pixel = node(quantize_pixels, ["image_pool", "selection", "feature_model", "params:dq_image"],
                 ["pixel_images", "pixel_report"], name="quantize_pixels")
    return dq + Pipeline([pixel])
