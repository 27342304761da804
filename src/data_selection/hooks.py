"""Hooks: the project's MLflow store, the git commit of every run, the experiment kind, and the run's wall time."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

#: a tracking URI the user exported before starting Kedro wins over the project default
_USER_TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI")

#: MLflow 3 experiment kind for model training (the UI then opens on the runs table)
EXPERIMENT_KIND = "custom_model_development"


def git_commit(path: Path) -> str:
    """SHA of HEAD for the project folder, or ``"unknown"`` outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class RunMetadataHooks:
    """Adds a ``git_commit`` tag and a ``wall_time_s`` metric to the active MLflow run; marks the experiment as
    model training (``mlflow.experimentKind``)."""

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
        # kedro-mlflow already tags the run with its run parameters (env, pipeline name, tags, ...); the git commit
        # is the one fact it does not record. The experiment kind makes `mlflow ui` open on the runs table rather
        # than MLflow 3's GenAI overview.
        mlflow.set_tag("git_commit", git_commit(self._project_path))
        experiment_id = mlflow.active_run().info.experiment_id
        mlflow.MlflowClient().set_experiment_tag(experiment_id, "mlflow.experimentKind", EXPERIMENT_KIND)

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
