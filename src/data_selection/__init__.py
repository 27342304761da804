"""data-selection: published training-data selection methods as Kedro pipelines over one catalog.

The selection math lives in :mod:`data_selection.core` (NumPy/torch only, importable without Kedro);
:mod:`data_selection.llm` holds model code (transformers + peft); :mod:`data_selection.pipelines` wires them.
"""

import os

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub unless the user asks for it
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
