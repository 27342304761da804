"""Shards of a per-example pass: pool-order reassembly with ids checked, resume after a kill computes only the
missing shards (counted), a corrupt shard is reported and recomputed, and the Ray executor equals the local one."""

from __future__ import annotations

import numpy as np
import pytest

from data_selection.core.shards import ShardCorrupt, ShardStore, run_local, shard_key, shard_ranges
from data_selection.executors import run_shards

IDS = [f"ex{i:03d}" for i in range(23)]


def _compute(calls: list):
    def compute(start: int, stop: int) -> dict[str, np.ndarray]:
        calls.append((start, stop))
        rows = np.arange(start, stop, dtype=np.float64)
        return {"square": rows**2, "pair": np.stack([rows, -rows], axis=1)}

    return compute


def test_ranges_and_keys():
    assert shard_ranges(23, 10) == [(0, 10), (10, 20), (20, 23)] and shard_ranges(0, 4) == []
    assert shard_key(10, 20) == "00000010-00000020"
    with pytest.raises(ValueError):
        shard_ranges(5, 0)


def test_shards_reassemble_in_pool_order_with_ids_checked(tmp_path):
    store = ShardStore(tmp_path / "s")
    arrays, report = run_shards(store, IDS, 10, lambda: _compute([]))
    np.testing.assert_array_equal(arrays["square"], np.arange(23.0) ** 2)
    np.testing.assert_array_equal(arrays["pair"][:, 1], -np.arange(23.0))
    assert report.as_dict() == {"shards": 3, "computed": 3, "reused": 0, "corrupt": []}
    assert store.keys() == ["00000000-00000010", "00000010-00000020", "00000020-00000023"]
    with pytest.raises(ShardCorrupt, match="other example ids"):
        store.assemble(IDS[::-1], 10)  # a reordered pool never silently reuses the shards


def test_a_killed_pass_resumes_with_only_the_missing_shards(tmp_path):
    store, calls = ShardStore(tmp_path / "s"), []
    compute = _compute(calls)

    def dies_at_third(start, stop):
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return compute(start, stop)

    with pytest.raises(KeyboardInterrupt):
        run_local(store, IDS, 5, dies_at_third, progress=False)
    assert calls == [(0, 5), (5, 10)] and len(store.keys()) == 2
    calls.clear()
    arrays, report = run_shards(store, IDS, 5, lambda: compute)
    assert calls == [(10, 15), (15, 20), (20, 23)]  # only the three unfinished shards
    assert report.as_dict() == {"shards": 5, "computed": 3, "reused": 2, "corrupt": []}
    np.testing.assert_array_equal(arrays["square"], np.arange(23.0) ** 2)
    calls.clear()
    run_shards(store, IDS, 5, lambda: compute)
    assert calls == []  # nothing left to do: the pass is not even built


def test_a_corrupt_shard_is_reported_and_recomputed_never_reused(tmp_path):
    store, calls = ShardStore(tmp_path / "s"), []
    run_shards(store, IDS, 10, lambda: _compute(calls))
    path = store.path("00000010-00000020")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte inside the file
    path.write_bytes(bytes(data))
    calls.clear()
    arrays, report = run_shards(store, IDS, 10, lambda: _compute(calls))
    assert calls == [(10, 20)] and report.corrupt == ["00000010-00000020"] and report.reused == 2
    np.testing.assert_array_equal(arrays["square"], np.arange(23.0) ** 2)
    path.write_bytes(b"not a zip")
    with pytest.raises(ShardCorrupt, match="unreadable"):
        store.read("00000010-00000020")


def test_writes_are_atomic_and_checked(tmp_path):
    store = ShardStore(tmp_path / "s")
    with pytest.raises(ValueError, match="rows"):
        store.write("k", {"a": np.zeros(3)}, ["x", "y"])
    with pytest.raises(ValueError, match="reserved"):
        store.write("k", {"ids": np.zeros(2)}, ["x", "y"])
    assert not (tmp_path / "s").exists() or list((tmp_path / "s").iterdir()) == []  # nothing half-written left behind


@pytest.mark.slow
def test_ray_and_local_executors_give_identical_shards(tmp_path):
    ray = pytest.importorskip("ray")
    import sys

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test module
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        local, _ = run_shards(ShardStore(tmp_path / "local"), IDS, 4, lambda: _compute([]))
        remote, report = run_shards(ShardStore(tmp_path / "ray"), IDS, 4, lambda: _compute([]), executor="ray",
                                    ray_options={"concurrency": 2, "num_cpus": 1})
    finally:
        ray.shutdown()
    assert report.as_dict() == {"shards": 6, "computed": 6, "reused": 0, "corrupt": []}
    assert set(local) == set(remote)
    for name in local:
        np.testing.assert_array_equal(local[name], remote[name])


def test_shards_of_other_inputs_are_never_reused(tmp_path):
    store, calls = ShardStore(tmp_path / "s"), []
    assert store.bind("inputs-A") is False
    run_shards(store, IDS, 10, lambda: _compute(calls))
    assert ShardStore(tmp_path / "s").bind("inputs-A") is True and len(store.keys()) == 3
    assert ShardStore(tmp_path / "s").bind("inputs-B") is False and store.keys() == []  # other checkpoints/params
    calls.clear()
    run_shards(store, IDS, 10, lambda: _compute(calls))
    assert len(calls) == 3
