"""image_data pipeline: the configured image source -> selection pool + held-out test split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
