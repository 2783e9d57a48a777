"""Hosts on one machine for tests: Linux network namespaces joined by a bridge, nothing routed elsewhere.

Each host is a namespace with one veth interface on a bridge that lives in a namespace of its own,
an address from 198.18.0.0/24 (a benchmarking range no real network uses here) and no default
route, so its processes reach only the other hosts. ``Room`` removes every process and namespace it
made, also when a test fails. Needs root and ``ip`` (iproute2).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

SUBNET = "198.18.0"


def namespaces_unavailable() -> str | None:
    """Why namespaces cannot be made here, or ``None`` when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2's ip command"
    probe = f"probe{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "delete", probe], capture_output=True)
    return None if made.returncode == 0 else f"ip netns add failed: {made.stderr.strip()}"


def ip(*args: str) -> None:
    """Run ``ip ARGS``; raise with its message if it fails."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Room:
    """Namespaced hosts on one bridge: ``add(name)`` makes one (its address), ``run`` starts a command."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.switch = f"sw{self.tag}"
        self.hosts: dict[str, tuple[str, str]] = {}  # name -> (namespace, address)
        self.processes: list[subprocess.Popen] = []
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def add(self, name: str) -> str:
        """A new host named ``name`` on the bridge; its address."""
        index = len(self.hosts) + 1
        namespace, address = f"{name}-{self.tag}", f"{SUBNET}.{index}"
        inside, outside = f"h{index}{self.tag}", f"b{index}{self.tag}"
        ip("netns", "add", namespace)
        self.hosts[name] = (namespace, address)
        ip("link", "add", inside, "type", "veth", "peer", "name", outside)
        ip("link", "set", inside, "netns", namespace)
        ip("link", "set", outside, "netns", self.switch)
        ip("-n", self.switch, "link", "set", outside, "master", "br0", "up")
        ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inside)
        ip("-n", namespace, "link", "set", inside, "up")
        ip("-n", namespace, "link", "set", "lo", "up")
        return address

    def run(self, name: str, command: list[str], log: Path, **options) -> subprocess.Popen:
        """Start ``command`` on host ``name`` in a process group of its own, output to ``log``."""
        with open(log, "wb") as output:
            process = subprocess.Popen(["ip", "netns", "exec", self.hosts[name][0], *command], stdout=output,
                                       stderr=subprocess.STDOUT, start_new_session=True, **options)
        self.processes.append(process)
        return process

    def pids(self, name: str) -> list[int]:
        """Every process running in host ``name``'s namespace."""
        done = subprocess.run(["ip", "netns", "pids", self.hosts[name][0]], capture_output=True, text=True)
        return [int(pid) for pid in done.stdout.split()]

    def kill_host(self, name: str) -> list[int]:
        """SIGKILL every process on host ``name`` (a laptop gone at once); the ids killed."""
        killed = self.pids(name)
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return killed

    def close(self) -> None:
        """Kill every process in every host, then delete the namespaces (their interfaces go with them)."""
        for name in self.hosts:
            self.kill_host(name)
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait(timeout=10)
        for namespace in [n for n, _ in self.hosts.values()] + [self.switch]:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)
        for index in range(1, len(self.hosts) + 1):  # a veth left outside by a failed add
            subprocess.run(["ip", "link", "delete", f"h{index}{self.tag}"], capture_output=True)

    def __enter__(self) -> Room:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
