"""Shared fixtures. Telemetry and hub access are off for every test."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("MPLBACKEND", "Agg")

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _link_or_copy(source: str, destination: str) -> str:
    """``shutil.copytree``'s copy function: a hard link where the file system allows it, else a copy. Safe for the
    converted base model because the project only ever replaces that folder whole (``atomic_directory``)."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
    return destination


def make_project_copy(destination: Path) -> Path:
    """A runnable copy of the project (pyproject, conf/base + conf/test, empty data folders).

    The packaged Alpaca demo and the converted base model are copied when present, so the run does not
    repeat the ~40 s GGUF conversion (the cache is re-validated by its fingerprint).
    """
    shutil.copy(PROJECT_ROOT / "pyproject.toml", destination / "pyproject.toml")
    # Kedro's bootstrap wants src/ inside the project (the package itself is imported from the install)
    shutil.copytree(PROJECT_ROOT / "src", destination / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for env in ("base", "test"):
        shutil.copytree(PROJECT_ROOT / "conf" / env, destination / "conf" / env)
    (destination / "conf" / "local").mkdir(parents=True)
    for layer in ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models", "07_model_output", "08_reporting"):
        (destination / "data" / layer).mkdir(parents=True)
    alpaca = PROJECT_ROOT / "data" / "01_raw" / "alpaca_en_demo.json"
    if not alpaca.exists():
        pytest.skip("packaged Alpaca demo missing: run `make setup` first")
    shutil.copy(alpaca, destination / "data" / "01_raw" / alpaca.name)
    cached = PROJECT_ROOT / "data" / "06_models" / "base"
    if cached.exists():  # hard links: 1.6 GB of weights per copy filled /tmp (the models are replaced, never edited)
        shutil.copytree(cached, destination / "data" / "06_models" / "base", copy_function=_link_or_copy)
    models = PROJECT_ROOT / "data" / "01_raw" / "models"
    if models.exists():
        (destination / "data" / "01_raw" / "models").symlink_to(models, target_is_directory=True)
    return destination


def git_commit_all(root: Path) -> str:
    """Make ``root`` a git checkout with one commit (as a user's clone is); returns the commit SHA."""
    import subprocess

    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    for args in (["init", "-q"], ["add", "-A", "src", "conf", "pyproject.toml"], ["commit", "-q", "-m", "copy"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def run_pipeline_in_copy(destination: Path, pipeline: str) -> Path:
    """``kedro run --pipeline=<pipeline> --env test`` in a fresh project copy that is a git checkout."""
    root = make_project_copy(destination)
    git_commit_all(root)
    return run_in_session(root, pipeline)


def run_in_session(root: Path, pipeline: str, **run_args) -> Path:
    """``kedro run --pipeline=<pipeline> --env test`` through a KedroSession in the project at ``root``.

    The converted base models are copied back to the repository's cache so later sessions skip conversion.
    """
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    cwd = os.getcwd()
    os.chdir(root)  # the MLflow sqlite URI and the data paths are relative to the project root
    try:
        bootstrap_project(root)
        with KedroSession.create(project_path=root, env="test") as session:
            session.run(pipeline_names=[pipeline], **run_args)
    finally:
        os.chdir(cwd)
    for model_dir in (root / "data" / "06_models" / "base").glob("*"):
        target = PROJECT_ROOT / "data" / "06_models" / "base" / model_dir.name
        if not target.exists():
            shutil.copytree(model_dir, target)
    return root
