"""reporting pipeline."""

from .pipeline import create_image_pipeline, create_pipeline

__all__ = ["create_image_pipeline", "create_pipeline"]
