"""Processes for the Flower tests: each started in its own process group, ended by its group id."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Set


def flower_processes() -> Set[int]:
    """Ids of running processes (zombies excluded) whose command line names Flower's or Ray's programs."""
    names = ("flower-superlink", "flower-supernode", "flower-superexec", "flwr-serverapp", "flwr-clientapp",
             "raylet", "gcs_server", "ray::")
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(name in cmdline for name in names) and alive(int(entry.name)):
                found.add(int(entry.name))
    return found


def left_running(before: Set[int], wait_s: float = 10.0) -> Set[int]:
    """Flower or Ray processes not in ``before`` still running after up to ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while (extra := flower_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    return extra


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def start(command: List[str], log: Path, env: Dict[str, str]) -> subprocess.Popen:
    """Start ``command`` in a new process group (its id is the process id), output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def end_group(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End the process group of ``process``: SIGTERM, then SIGKILL after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and _group_alive(process.pid):
            process.poll()
            time.sleep(0.05)
        if not _group_alive(process.pid):
            break
    process.poll()


def _group_alive(pgid: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().split(") ")[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False
