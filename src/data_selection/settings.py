"""Project settings: hooks, and the config loader with the ``${pkg:...}`` resolver for packaged assets."""

from kedro.config import OmegaConfigLoader

from data_selection.config import package_path
from data_selection.hooks import MlflowRunStackHooks, RunMetadataHooks

HOOKS = (RunMetadataHooks(), MlflowRunStackHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # ${pkg:DIST,RELATIVE_PATH} -> absolute path of a file shipped inside an installed distribution
    "custom_resolvers": {"pkg": package_path},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
    # Parameters keep Kedro's default "destructive" merge across environments: an environment replaces a whole
    # top-level block (so conf/local can replace `data_prep.pool.mixture` outright). `kedro run --params a.b=v`
    # still overrides only the key it names (tests/pipelines/test_cli.py).
}
