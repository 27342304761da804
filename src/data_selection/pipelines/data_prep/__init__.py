"""Shared by every text method: raw sources -> one instruction schema -> pool and target tasks."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
