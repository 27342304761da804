"""The end-to-end tests' project copies share the converted base model by hard links instead of copying 1.6 GB each."""

from __future__ import annotations

import os

import pytest

from tests.conftest import PROJECT_ROOT, make_project_copy


def test_the_base_model_is_linked_not_copied(tmp_path):
    cached = PROJECT_ROOT / "data" / "06_models" / "base"
    weights = sorted(cached.glob("*/model.safetensors")) if cached.exists() else []
    if not weights:
        pytest.skip("no converted base model yet (run `make setup`)")
    if os.stat(cached).st_dev != os.stat(tmp_path).st_dev:
        pytest.skip("the project and the temporary folder are on different file systems: copies are expected")
    root = make_project_copy(tmp_path)
    for source in weights:
        copy = root / source.relative_to(PROJECT_ROOT)
        assert copy.read_bytes()[:64] == source.read_bytes()[:64]
        assert os.stat(copy).st_ino == os.stat(source).st_ino  # same file: no second 1 GB on disk
