"""Project settings: hooks, config loader with the ``${pkg:...}`` resolver for packaged assets."""

from kedro.config import OmegaConfigLoader

from data_selection.hooks import MlflowRunStackHooks, RunMetadataHooks, package_path

HOOKS = (RunMetadataHooks(), MlflowRunStackHooks())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # ${pkg:DIST,RELATIVE_PATH} -> absolute path of a file shipped inside an installed distribution
    "custom_resolvers": {"pkg": package_path},
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
