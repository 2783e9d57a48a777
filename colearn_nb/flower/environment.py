"""Flower offline and quiet: telemetry, update checks and runtime installs off; a clear error without flwr.

Used by notebook 12.
"""
from __future__ import annotations

import os
from pathlib import Path

QUIET_ENVIRONMENT: dict[str, str] = {
    "FLWR_TELEMETRY_ENABLED": "0",
    "FLWR_DISABLE_UPDATE_CHECK": "1",
    "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}


def require_flwr() -> None:
    """Raise ``ImportError`` saying how to install Flower when ``flwr`` is missing."""
    try:
        import flwr  # noqa: F401
    except ImportError as exc:
        raise ImportError("colearn_nb.flower needs Flower: pip install -e .[flower] "
                          "(or pip install 'flwr[simulation]==1.42.0')") from exc


def quiet_flower_environment(flwr_home: str | Path | None = None) -> dict[str, str]:
    """Set Flower's telemetry, update check and runtime installs off (unless already set); returns the values.

    ``flwr_home`` (optional) becomes ``FLWR_HOME``, where Flower keeps its configuration and keys.

    >>> quiet_flower_environment()["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"]
    '1'
    """
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if flwr_home is not None:
        Path(flwr_home).mkdir(parents=True, exist_ok=True)
        os.environ["FLWR_HOME"] = str(Path(flwr_home).resolve())
    return {name: os.environ[name] for name in list(QUIET_ENVIRONMENT) + ["FLWR_HOME"] if name in os.environ}
