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
    # An environment (and `kedro run --params a.b=1`) overrides only the keys it names: with the default
    # "destructive" strategy `--params selection.budget_fraction=0.05` would drop `selection.seed`.
    "merge_strategy": {"parameters": "soft"},
}
