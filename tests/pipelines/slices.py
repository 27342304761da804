"""Run a pipeline slice in memory (the spaceflights starter's pattern), keeping every output readable."""

from __future__ import annotations

from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner


class KeptDataset(MemoryDataset):
    """A MemoryDataset the runner does not release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def run_slice(pipeline, data: dict, copy_mode: str | None = None) -> DataCatalog:
    """Run ``pipeline`` with ``SequentialRunner`` on in-memory ``data`` (``{dataset: value}``); returns the catalog.

    ``copy_mode="assign"`` hands objects through uncopied (large arrays, models).
    """
    catalog = DataCatalog({name: MemoryDataset(value, copy_mode=copy_mode) for name, value in data.items()})
    for name in pipeline.all_outputs():
        catalog[name] = KeptDataset(copy_mode=copy_mode)
    SequentialRunner().run(pipeline, catalog)
    return catalog
