"""Configuration helpers: the ``${pkg:DIST,PATH}`` resolver for files shipped inside installed packages."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path


def package_path(distribution: str, relative_path: str = "") -> str:
    """Absolute path of ``relative_path`` inside an installed distribution (config resolver ``pkg``).

    The package is located without importing it (some asset packages import missing dependencies).

    Raises:
        FileNotFoundError: the distribution is not installed (run ``make setup``).
    """
    try:
        location = md.distribution(distribution).locate_file(relative_path)
    except md.PackageNotFoundError:
        raise FileNotFoundError(
            f"asset package {distribution!r} is not installed; run `make setup` "
            f"(or `python scripts/install_assets.py`), or point the configuration at your own file"
        ) from None
    return str(Path(str(location)))
