"""Dataset Quantization (Zhou et al., ICCV 2023): the shared pipeline factory, nodes and parameter schemas.

The registered methods are the tracks' packages (``dq_text``; ``dq_image`` with the image track); each is this
factory with its own feature node.
"""

from .pipeline import create_dq_pipeline

__all__ = ["create_dq_pipeline"]
