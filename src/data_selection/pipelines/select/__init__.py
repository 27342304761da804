"""The shared ``select`` stage (scores -> selection) and the selection contract."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
