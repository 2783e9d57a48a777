"""Which Flower and Ray processes run: to check that a test left none behind."""
from __future__ import annotations

import time
from pathlib import Path


def flower_processes() -> set[int]:
    """Ids of running processes (zombies excluded) whose command line names Flower's or Ray's programs."""
    names = ("flower-superlink", "flower-supernode", "colearn_nb.flower.deploy.supernode", "flower-superexec",
             "flwr-serverapp", "flwr-clientapp", "colearn_nb.flower.deploy.worker", "raylet", "gcs_server",
             "ray::")
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


def left_running(before: set[int], wait_s: float = 10.0) -> set[int]:
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


def descendants(pid: int) -> dict[int, str]:
    """Every running process below ``pid`` (children, their children...), by id: its start time in ticks."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found, waiting = {}, list(parents.get(pid, []))
    while waiting:
        child = waiting.pop()
        if (started := start_time(child)) is not None:
            found[child] = started
        waiting += parents.get(child, [])
    return found


def start_time(pid: int) -> str | None:
    """When ``pid`` started (ticks since boot), or None if it does not run (a zombie counts as ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def still_running(processes: dict[int, str], wait_s: float = 10.0) -> set[int]:
    """Which of ``processes`` (``descendants``'s answer) still run after up to ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while (left := {pid for pid, started in processes.items() if start_time(pid) == started}) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
