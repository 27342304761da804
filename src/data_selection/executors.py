"""Where the shards of a per-example pass run: in this process (``local``) or on Ray Data (``ray``).

No Kedro here: Kedro stays the DAG and the catalog (one node per pass); inside the node, the missing shards of a
:class:`~data_selection.core.shards.ShardStore` are computed by one of two executors with identical results.

* ``local``: one shard after the other in this process (:func:`data_selection.core.shards.run_local`).
* ``ray``: the missing shards become a Ray Dataset of index ranges; ``map_batches`` runs a callable class whose
  constructor builds the pass once per actor (model loaded once), ``concurrency`` actors with ``num_cpus`` /
  ``num_gpus`` each. Every actor writes its shards into the store (atomically), so the store's folder must be
  reachable from every worker: a local folder on one machine, a shared filesystem on a cluster. ``ray.init()`` is
  called only when Ray is not initialised yet (then it joins ``RAY_ADDRESS`` when set, or starts a local instance).
  Ray is the optional extra ``pip install .[ray]``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

from data_selection.core.shards import ShardReport, ShardStore, missing_shards, run_local, shard_key

logger = logging.getLogger(__name__)

Executor = Literal["local", "ray"]
#: ``make_compute()`` builds the pass (loads the model) and returns ``compute(start, stop) -> arrays``
ComputeFactory = Callable[[], Callable[[int, int], dict[str, np.ndarray]]]


class _ShardWorker:
    """A Ray Data actor: builds the pass once, then computes and stores one shard per input row."""

    def __init__(self, make_compute: ComputeFactory, folder: str, ids: list[str]):
        self.compute = make_compute()
        self.store = ShardStore(folder)
        self.ids = ids

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = []
        for start, stop in zip(batch["start"].tolist(), batch["stop"].tolist()):
            key = shard_key(start, stop)
            self.store.write(key, self.compute(start, stop), self.ids[start:stop])
            keys.append(key)
        return {"key": np.asarray(keys, dtype=str)}


def run_ray(
    store: ShardStore, ids: Sequence[str], shard_size: int, make_compute: ComputeFactory,
    concurrency: int = 1, num_cpus: float = 1, num_gpus: float = 0, description: str = "shards",
) -> ShardReport:
    """Compute the missing shards as Ray Data ``map_batches`` over their index ranges (one range per batch).

    Raises:
        ImportError: Ray is not installed (``pip install .[ray]``).
        RuntimeError: Ray reports fewer finished shards than it was given.
    """
    try:
        import ray
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ImportError("executor 'ray' needs Ray: pip install '.[ray]' (or set executor: local)") from error
    report = ShardReport()
    todo = missing_shards(store, ids, shard_size, report)
    logger.info("%s: %d of %d shards to compute on Ray (%d actors)", description, len(todo), report.total, concurrency)
    if not todo:
        return report
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    ranges = ray.data.from_items([{"start": start, "stop": stop} for start, stop in todo])
    done = ranges.map_batches(
        _ShardWorker, fn_constructor_args=(make_compute, str(store.folder), [str(i) for i in ids]), batch_size=1,
        concurrency=int(concurrency), num_cpus=num_cpus, num_gpus=num_gpus,
    )
    keys = sorted(row["key"] for row in done.iter_rows())
    if keys != sorted(shard_key(s, e) for s, e in todo):
        raise RuntimeError(f"{description}: Ray finished {len(keys)} of {len(todo)} shards")
    report.computed = len(keys)
    return report


def run_shards(
    store: ShardStore, ids: Sequence[str], shard_size: int, make_compute: ComputeFactory,
    executor: Executor = "local", ray_options: dict[str, Any] | None = None, description: str = "shards",
) -> tuple[dict[str, np.ndarray], ShardReport]:
    """Compute every missing shard with ``executor``, then read all shards back as one set of arrays in pool order.

    Args:
        store: the pass's shard folder (a catalog entry).
        ids: the examples' ids in pool order (row i of every output array is ``ids[i]``).
        shard_size: examples per shard (the unit of resumption).
        make_compute: builds the pass; with ``local`` it is called once here, only when a shard is missing.
        executor: ``local`` or ``ray``.
        ray_options: ``concurrency``, ``num_cpus``, ``num_gpus`` of the Ray actors.

    Returns:
        (arrays in pool order, the :class:`ShardReport`: shards computed now, reused, corrupt and recomputed).

    Raises:
        ValueError: an unknown executor; see :meth:`ShardStore.assemble` for inconsistent shards.
    """
    if executor == "local":
        compute: Callable | None = None

        def lazy(start: int, stop: int) -> dict[str, np.ndarray]:
            nonlocal compute
            if compute is None:
                compute = make_compute()
            return compute(start, stop)

        report = run_local(store, ids, shard_size, lazy, description=description)
    elif executor == "ray":
        report = run_ray(store, ids, shard_size, make_compute, description=description, **(ray_options or {}))
    else:
        raise ValueError(f"executor must be 'local' or 'ray', got {executor!r}")
    logger.info("%s: %s", description, report.as_dict())
    return store.assemble(ids, shard_size), report
