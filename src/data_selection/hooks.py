"""Hooks: tags every MLflow run with the git commit and config env, and logs its wall time."""

from __future__ import annotations

import importlib.metadata as md
import logging
import subprocess
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


def package_path(distribution: str, relative_path: str = "") -> str:
    """Absolute path of ``relative_path`` inside an installed distribution (config resolver ``pkg``).

    The package is located without importing it (some asset packages import missing dependencies).

    Raises:
        FileNotFoundError: the distribution is not installed (run ``make setup``) or the path is absent.
    """
    try:
        location = md.distribution(distribution).locate_file(relative_path)
    except md.PackageNotFoundError:
        raise FileNotFoundError(
            f"asset package {distribution!r} is not installed; run `make setup` "
            f"(or `python scripts/install_assets.py`), or point the configuration at your own file"
        ) from None
    return str(Path(str(location)))


def git_commit(path: Path) -> str:
    """SHA of HEAD for the project folder, or ``"unknown"`` outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunMetadataHooks:
    """Adds tags (git SHA, config env, pipeline) and a ``wall_time_s`` metric to the active MLflow run."""

    def __init__(self):
        self._start = None
        self._project_path = Path.cwd()

    @hook_impl
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)

    @hook_impl(trylast=True)  # after kedro-mlflow has started the run
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        self._start = time.perf_counter()
        import mlflow

        if mlflow.active_run() is None:
            return
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        mlflow.set_tags(
            {
                "git_commit": git_commit(self._project_path),
                "config_env": run_params.get("env") or "local",
                "pipeline": "+".join(names) if isinstance(names, list) else str(names),
            }
        )

    @hook_impl(tryfirst=True)  # before kedro-mlflow ends the run
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        import mlflow

        if self._start is not None and mlflow.active_run() is not None:
            mlflow.log_metric("wall_time_s", time.perf_counter() - self._start)
