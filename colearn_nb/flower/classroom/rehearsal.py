"""A rehearsal's pretend laptops: each joins and runs its own SuperNode; their learners share one worker.

A real laptop holds one Python with torch for its learner (``deploy.supernode --worker-app``). Thirty of
those on the teacher's machine would need about 15 GB, so a ``PretendRoom``'s laptops each join with the
code, pin the CA and run their own SuperNode with their own key, as a real laptop does, while their
learners live in one shared worker process (``deploy.worker --nodes-dir``): one torch for all of them.
Their learners take turns there; on a real laptop each has the machine to itself.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from ..deploy.guard import ProcessGuard
from ..deploy.loopback import CLIENT_APP, end_process_group
from ..deploy.worker import WorkerNode
from .participant import Participant


class PretendLaptop(Participant):
    """A ``Participant`` whose learner runs in its ``PretendRoom``'s shared worker, not in its own process."""

    def __init__(self, room: PretendRoom, directory: str | Path, address: str, code: str, ca_sha256: str,
                 name: str = "", client_app: str = CLIENT_APP):
        super().__init__(directory, address, code, ca_sha256, name, client_app)
        self.room, self.worker_in_supernode = room, False
        self.node_file: Path | None = None

    def start_worker(self, runtime_port: int, partition_id: int, name: str) -> None:
        """Have the room's shared worker serve this laptop's SuperNode."""
        self.node_file = self.room.serve(WorkerNode(
            f"127.0.0.1:{runtime_port}", {"partition-id": partition_id, "num-partitions": self.n_learners}),
            self.client_app)

    def close(self) -> None:
        """End this laptop's SuperNode and take its learner out of the shared worker."""
        super().close()
        if self.node_file is not None:
            self.room.leave(self.node_file)
            self.node_file = None


class PretendRoom:
    """Makes pretend laptops (``Projector(pretend_laptop=PretendRoom())``) that share one worker process.

    The worker starts with the first laptop's SuperNode and ends when the last laptop closes (or ``close``).

    >>> PretendRoom()
    PretendRoom(0 learners served, worker not running)
    """

    def __init__(self) -> None:
        self.directory: Path | None = None  # the shared worker's folder, beside the first laptop's
        self.process: subprocess.Popen | None = None
        self.guard: ProcessGuard | None = None
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        served = len(list(self.directory.glob("nodes/*.json"))) if self.directory else 0
        state = "running" if self.process is not None and self.process.poll() is None else "not running"
        return f"PretendRoom({served} learners served, worker {state})"

    def __call__(self, directory: str | Path, address: str, code: str, ca_sha256: str, name: str = "",
                 client_app: str = CLIENT_APP) -> PretendLaptop:
        """A pretend laptop in ``directory``, as ``Participant(directory, address, code, ...)`` would be."""
        if self.directory is None:
            self.directory = Path(directory).resolve().parent / "pretend_worker"
        return PretendLaptop(self, directory, address, code, ca_sha256, name, client_app)

    def serve(self, node: WorkerNode, client_app: str) -> Path:
        """Have the shared worker (started if need be) serve ``node``; the file that names it."""
        assert self.directory is not None  # set by __call__
        with self.lock:
            nodes = self.directory / "nodes"
            nodes.mkdir(parents=True, exist_ok=True)
            port = node.runtime_api_address.rpartition(":")[2]
            path = nodes / f"node{node.node_config['partition-id']}_{port}.json"
            node.write(path)
            if self.process is None or self.process.poll() is not None:
                self._start_worker(nodes, client_app)
            return path

    def _start_worker(self, nodes: Path, client_app: str) -> None:
        from ..learner_events import EVENTS_VARIABLE

        environment = {key: value for key, value in os.environ.items() if key != EVENTS_VARIABLE}
        with open(nodes.parent / "worker.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "colearn_nb.flower.deploy.worker", "--nodes-dir", str(nodes),
                 "--app", client_app], stdout=log, stderr=subprocess.STDOUT, env=environment,
                start_new_session=True)
        self.guard = self.guard or ProcessGuard()
        self.guard.watch(self.process.pid)

    def leave(self, node_file: Path) -> None:
        """Stop serving the node ``node_file`` names; the worker ends with the last one."""
        with self.lock:
            node_file.unlink(missing_ok=True)
            if self.directory is not None and not list((self.directory / "nodes").glob("*.json")):
                self._end_worker()

    def _end_worker(self) -> None:
        if self.process is not None:
            end_process_group(self.process)
            if self.guard is not None:
                self.guard.forget(self.process.pid)
            self.process = None

    def close(self) -> None:
        """End the shared worker and its guard, whoever is still served."""
        with self.lock:
            self._end_worker()
            if self.guard is not None:
                self.guard.close()
                self.guard = None

