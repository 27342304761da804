"""Hooks: tags every MLflow run with the git commit and config env, and logs its wall time."""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
import subprocess
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: a tracking URI the user exported before starting Kedro wins over the project default
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")


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

    @hook_impl(tryfirst=True)  # before kedro-mlflow reads its configuration
    def after_context_created(self, context) -> None:
        """Default MLflow store: ``<project>/mlflow.db`` as an *absolute* SQLite URI.

        ``mlflow.yml`` leaves ``mlflow_tracking_uri`` empty so kedro-mlflow takes ``MLFLOW_TRACKING_URI``;
        an absolute path keeps runs in this project's database whatever the working directory (MLflow caches
        stores by URI string, so a relative ``sqlite:///mlflow.db`` would follow the first project opened in
        a process). Set ``mlflow_tracking_uri`` in ``mlflow.yml``, or export the variable, to use a server.
        """
        self._project_path = Path(context.project_path)
        if not _USER_TRACKING_URI:
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{(self._project_path / 'mlflow.db').resolve()}"

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


class MlflowRunStackHooks:
    """Runs last: leaves no ended MLflow run on the caller's run stack (see :func:`_pop_finished_runs`)."""

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        _pop_finished_runs()

    @hook_impl(trylast=True)  # after kedro-mlflow has marked the run failed
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        _pop_finished_runs()


def _pop_finished_runs() -> None:
    """Drop runs that MLflow still lists as active in this thread although they have ended.

    kedro-mlflow restarts the run inside node execution and ends it at the end of the pipeline, which can
    leave an ended run on the caller's run stack; a second ``session.run`` in the same process (notebooks,
    tests) would then log into the previous run.
    """
    import mlflow
    from mlflow.entities import RunStatus

    while (active := mlflow.active_run()) is not None:
        status = mlflow.tracking.MlflowClient().get_run(active.info.run_id).info.status
        if status == RunStatus.to_string(RunStatus.RUNNING):
            break
        mlflow.end_run(status)
