"""Flower offline and quiet: telemetry, update checks and runtime installs off; a clear error without flwr.

Also this machine's memory limit (cgroup), from which the simulation picks Ray or this process.
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
UNLIMITED_BYTES = 2**60  # cgroup v1 writes "no limit" as about 2**63 (rounded down to a page)


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


def _cgroup_paths(proc_self_cgroup: Path) -> tuple[str, str]:
    """This process's cgroup v2 path and v1 memory path, from ``/proc/self/cgroup`` ("/" when unknown)."""
    v2, v1 = "/", "/"
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        hierarchy, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if hierarchy == "0" and controllers == "":
            v2 = path or "/"
        elif "memory" in controllers.split(","):
            v1 = path or "/"
    return v2, v1


def _read_limit(path: Path) -> int | None:
    """A cgroup memory limit file in bytes; None when absent, unreadable, ``max`` or unlimited."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    return int(text) if int(text) < UNLIMITED_BYTES else None


def memory_limit_bytes(cgroup_root: str | Path = "/sys/fs/cgroup",
                       proc_self_cgroup: str | Path = "/proc/self/cgroup") -> int | None:
    """This process's memory limit in bytes from its cgroup (v2 ``memory.max``, v1 ``memory.limit_in_bytes``).

    None when there is none (``max``, v1's "unlimited" 2**63, or no cgroup files), as on most laptops;
    mybinder.org sets 2 GB. The smallest limit found in the process's own cgroup and the root one counts.

    >>> memory_limit_bytes("/no/such/folder") is None
    True
    """
    root = Path(cgroup_root)
    v2, v1 = _cgroup_paths(Path(proc_self_cgroup))
    v1_root = root / "memory"
    files = [root / v2.lstrip("/") / "memory.max", root / "memory.max",
             v1_root / v1.lstrip("/") / "memory.limit_in_bytes", v1_root / "memory.limit_in_bytes"]
    limits = [limit for limit in map(_read_limit, files) if limit is not None]
    return min(limits) if limits else None
