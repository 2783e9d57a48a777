"""A whole Flower deployment on one machine: a SuperLink and SuperNodes as separate processes on 127.0.0.1.

TLS with a certificate authority made on the spot, SuperNode authentication with keys
registered at the SuperLink, and ``flwr run`` of the MNIST app. Every process starts in its
own process group and is ended by that group's id; nothing is left running after ``close``, nor after
the process that started them is killed (``guard.ProcessGuard`` ends the groups then).
Taught in notebook 12 (its deployment recipe).
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

from ...protocol.checks import check_choice, check_vote_threshold
from ...protocol.class_controls import ClassControls
from ...protocol.results import Results
from ..environment import QUIET_ENVIRONMENT, require_flwr
from ..server import check_counts, check_round_deadline
from .credentials import TLSFiles, make_node_keys, make_tls_files
from .guard import ProcessGuard
from .results_files import ResultsFiles

logger = logging.getLogger(__name__)
ISOLATION_MODES = ("process", "subprocess")
CLIENT_APP = "colearn_nb.flower.mnist_app:client_app"  # the one ClientApp the federation's workers run
APP_TOML = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "colearn-mnist"
version = "1.0.0"
description = "Collective learning on MNIST with colearn_nb"
# Every machine installs colearn_nb[flower] itself: runtime dependency installation stays off.
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "colearn-nb"

[tool.flwr.app.components]
serverapp = "colearn_nb.flower.deploy.server_app:server_app"
clientapp = "{client_app}"

[tool.flwr.app.config]
n-learners = {n_learners}
n-rounds = {n_rounds}
vote-threshold = {vote_threshold}
seed = {seed}
learning-rate = {learning_rate}
timeout = {timeout}
round-deadline = {round_deadline}
results-path = "{results_path}"
fast-polling = {fast_polling}
"""


def write_flower_app(directory: str | Path, n_learners: int, n_rounds: int, vote_threshold: float = 0.5,
                     seed: int = 0, results_path: str | Path = "colearn_results.json",
                     timeout: float = 300.0, fast_polling: bool = True, learning_rate: float = 1e-3,
                     round_deadline: float | None = None, client_app: str = CLIENT_APP) -> Path:
    """Write the app folder ``flwr run`` needs (a ``pyproject.toml`` naming the apps); returns it.

    ``round_deadline``: seconds a learner has to answer in a round before it counts as missing (None: it
    must answer within ``timeout``, or the run fails). ``client_app``: the ClientApp every learner runs,
    ``"module:attribute"`` installed on every machine (default: the tutorial's MNIST learners), e.g. a
    module holding ``client_app = make_client_app(my_learner)``.

    >>> import tempfile
    >>> app = write_flower_app(tempfile.mkdtemp(), n_learners=3, n_rounds=2)
    >>> "n-learners = 3" in (app / "pyproject.toml").read_text()
    True
    """
    check_counts(n_learners, n_rounds)
    vote_threshold = check_vote_threshold(vote_threshold)
    check_round_deadline(round_deadline)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pyproject.toml").write_text(APP_TOML.format(
        client_app=check_app_reference(client_app), n_learners=n_learners, n_rounds=n_rounds,
        vote_threshold=vote_threshold, seed=seed, timeout=float(timeout), learning_rate=float(learning_rate),
        round_deadline=float(round_deadline or 0),
        results_path=Path(results_path).resolve().as_posix(), fast_polling=str(bool(fast_polling)).lower()))
    (directory / "README.md").write_text("Collective learning on MNIST: the apps live in "
                                         "colearn_nb.flower.\n")
    return directory


def check_app_reference(client_app: str) -> str:
    """``client_app`` when it reads ``"module:attribute"``; else ``ValueError`` saying what to give.

    >>> check_app_reference("my_learners:client_app")
    'my_learners:client_app'
    """
    if not isinstance(client_app, str) or not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", client_app):
        raise ValueError(f"client_app: got {client_app!r}; expected 'module:attribute' of a ClientApp "
                         f"installed on every machine, e.g. 'my_learners:client_app' or {CLIENT_APP!r}")
    return client_app


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen) -> None:
    """Wait until something listens on 127.0.0.1:``port``; raise if ``process`` ended or time ran out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} ended with code {process.returncode} "
                               f"before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def end_process_group(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End the process group ``process`` leads (SIGTERM, then SIGKILL after ``grace_s``), by its id."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                process.wait(timeout=0.1)
                os.killpg(process.pid, 0)  # the leader ended: are others in its group still there?
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return


def follow_rounds(results_path: Path, timeout: float, on_round: Callable[[Results], None] | None,
                  logs: Path) -> Results:
    """The ServerApp's ``Results`` once written; meanwhile ``on_round`` gets the rounds as they grow."""
    deadline, n_seen, files = time.monotonic() + timeout, 0, ResultsFiles(results_path)
    while not results_path.exists():
        if on_round is not None and files.rounds.exists():
            results = Results.load(files.rounds)
            if len(results.data) > n_seen:
                n_seen = len(results.data)
                on_round(results)
        if files.error.exists():
            raise RuntimeError(f"the ServerApp failed: {files.error.read_text()} (logs in {logs})")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no results in {results_path} after {timeout} s; see {logs}")
        time.sleep(0.2)
    results = Results.load(results_path)
    if on_round is not None and len(results.data) > n_seen:
        on_round(results)
    return results


class LoopbackFederation:
    """A SuperLink and ``n_learners`` SuperNodes on 127.0.0.1 with TLS and SuperNode authentication.

    ``fast=True`` sets SuperExec's task polling to 0.05 s (Flower's default: 1 s), the ServerApp's
    polling for replies to 0.02 s (Flower's ``send_and_receive``: 3 s) and each SuperNode's polling for
    messages to 0.5 s (``deploy.supernode``; Flower's: 3 s). ``isolation="process"`` gives
    each SuperNode a long-lived ``ClientAppWorker`` that runs only ``client_app`` (by default the MNIST
    ClientApp; torch imported and the learner built once, when the SuperNode starts): with ``fast`` a thread
    of the SuperNode's own process, else a process beside it; ``"subprocess"`` is Flower's default, a fresh
    ClientApp process for every message.

        with LoopbackFederation("flower_run", n_learners=3) as federation:
            results = federation.run(n_rounds=2)
    """

    def __init__(self, directory: str | Path, n_learners: int = 3, fast: bool = True,
                 isolation: str = "process", start_timeout: float = 120.0, client_app: str = CLIENT_APP):
        require_flwr()
        self.isolation = check_choice("isolation", isolation, ISOLATION_MODES)
        self.client_app = check_app_reference(client_app)
        self.directory, self.n_learners, self.fast = Path(directory).resolve(), n_learners, fast
        self.start_timeout = start_timeout
        self.processes: list[subprocess.Popen] = []
        self.guard = ProcessGuard()  # ends the process groups should this process die without close()
        self.port = free_port()  # the SuperLink's one HTTPS port: Fleet, Control and Runtime APIs
        self.tls: TLSFiles | None = None
        self.tls_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")  # the names its certificate holds
        self.superlink_address = f"127.0.0.1:{self.port}"  # where SuperNodes reach its Fleet API
        self.controls: ClassControls | None = None  # the teacher's live controls, once changed
        self.files: ResultsFiles | None = None  # the files of the run under way (or the last)
        self.worker_in_supernode = True  # with fast and isolation "process": the worker a SuperNode's thread

    def __repr__(self) -> str:
        running = sum(p.poll() is None for p in self.processes)
        return (f"LoopbackFederation({self.n_learners} learners, isolation={self.isolation!r}, "
                f"{running} processes running, in {self.directory})")

    def environment(self) -> dict[str, str]:
        """The environment of every Flower process: quiet, offline, FLWR_HOME inside ``directory``.

        Without colours: a Jupyter kernel sets ``FORCE_COLOR``, and ``flwr``'s JSON then comes coloured.
        """
        env = dict(os.environ, **QUIET_ENVIRONMENT, FLWR_HOME=str(self.directory / "flwr_home"), NO_COLOR="1")
        for forcing in ("FORCE_COLOR", "CLICOLOR_FORCE", "CLICOLOR"):
            env.pop(forcing, None)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        if self.fast:
            env["FLWR_SUPEREXEC_TASK_POLL_INTERVAL"] = "0.05"
        return env

    def start_process(self, command: list[str], log_name: str) -> subprocess.Popen:
        """Start ``command`` in its own process group, its output in ``logs/<log_name>.log``."""
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        with open(self.directory / "logs" / f"{log_name}.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.environment(),
                                       cwd=self.directory, start_new_session=True)
        self.guard.watch(process.pid)  # its own session: the group's id is its id
        self.processes.append(process)
        return process

    def end_process(self, process: subprocess.Popen) -> None:
        """End ``process``'s group (``end_process_group``); the guard forgets it."""
        end_process_group(process)
        self.guard.forget(process.pid)

    def flwr(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run the ``flwr`` command line (in its own process group) and return what it printed."""
        command = [str(Path(sys.executable).parent / "flwr"), *args]
        log_name = f"flwr_{args[0]}_{len(self.processes)}"
        process = self.start_process(command, log_name)
        try:
            process.wait(timeout=timeout)
        finally:
            self.end_process(process)
        log = (self.directory / "logs" / f"{log_name}.log").read_text(errors="replace")
        return subprocess.CompletedProcess(command, process.returncode, log)

    def tls_files(self) -> TLSFiles:
        """The TLS files made when the SuperLink started."""
        if self.tls is None:
            raise RuntimeError("no TLS files yet: start the SuperLink first (start() or start_superlink())")
        return self.tls

    def write_connection(self) -> None:
        """The ``flwr`` command line's connection to this SuperLink, named ``loopback``, with its CA."""
        home = self.directory / "flwr_home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(
            '[superlink]\ndefault = "loopback"\n\n[superlink.loopback]\n'
            f'address = "127.0.0.1:{self.port}"\n'
            f'root-certificates = "{self.tls.ca_certificate.as_posix()}"\n')

    def start_superlink(self) -> subprocess.Popen:
        """The SuperLink with TLS and SuperNode authentication on; returns once its control API listens."""
        self.tls = make_tls_files(self.directory / "tls", hosts=self.tls_hosts)
        self.write_connection()
        process = self.start_process([
            str(Path(sys.executable).parent / "flower-superlink"),
            "--ssl-ca-certfile", str(self.tls.ca_certificate),
            "--ssl-certfile", str(self.tls.server_certificate), "--ssl-keyfile", str(self.tls.server_key),
            "--enable-supernode-auth", "--disable-runtime-dependency-installation",
            "--host", "127.0.0.1", "--port", str(self.port)], "superlink")
        wait_for_port(self.port, self.start_timeout, process)
        return process

    def register(self, public_key: Path) -> int:
        """Register a SuperNode's public key at the SuperLink (``flwr supernode register``); its node id."""
        done = self.flwr("supernode", "register", str(public_key), "loopback")
        registered = re.search(r"SuperNode (\d+) registered", done.stdout)
        if done.returncode != 0 or registered is None:
            raise RuntimeError(f"flwr supernode register {public_key} failed: {done.stdout[-2000:]}")
        return int(registered.group(1))

    def flwr_json(self, *args: str) -> dict:
        """``flwr *args loopback --format json``'s answer; ``RuntimeError`` with its output on failure."""
        done = self.flwr(*args, "loopback", "--format", "json")
        try:
            answer = json.loads(done.stdout[done.stdout.index("{"):])
        except ValueError:  # no JSON in what it printed (index finds no "{", or it is not JSON)
            answer = {}
        if done.returncode != 0 or answer.get("success") is not True:
            raise RuntimeError(f"flwr {' '.join(args)} failed: {done.stdout[-2000:]}")
        return answer

    def node_statuses(self) -> dict[int, str]:
        """Each registered SuperNode's status as the SuperLink sees it (``flwr supernode list``): node id ->
        ``"registered"`` (never connected), ``"online"`` or ``"offline"``."""
        return {int(node["node-id"]): node["status"] for node in self.flwr_json("supernode", "list")["nodes"]}

    def start_supernode(self, partition_id: int, private_key: Path,
                        max_retries: int | None = None) -> subprocess.Popen:
        """A SuperNode for learner ``partition_id``, authenticating with ``private_key``, over TLS.

        With ``isolation="process"`` its ``ClientAppWorker`` runs too: a thread of the SuperNode's process
        with ``fast`` (``deploy.supernode --worker-app``), else a process (and process group) of its own.
        """
        runtime_port = free_port()
        program = ([sys.executable, "-m", "colearn_nb.flower.deploy.supernode"] if self.fast
                   else [str(Path(sys.executable).parent / "flower-supernode")])
        command = [*program, "--root-certificates", str(self.tls.ca_certificate),
                   "--superlink", self.superlink_address, "--auth-supernode-private-key", str(private_key),
                   "--node-config", f"partition-id={partition_id} num-partitions={self.n_learners}",
                   "--isolation", self.isolation, "--host", "127.0.0.1", "--port", str(runtime_port)]
        if max_retries is not None:
            command += ["--max-retries", str(max_retries), "--max-wait-time", "20"]
        name = f"supernode_{partition_id}_{private_key.name}"
        if self.isolation == "process" and self.fast and self.worker_in_supernode:
            return self.start_process([*command, "--worker-app", self.client_app], name)
        supernode = self.start_process(command, name)
        if self.isolation == "process":
            self.start_worker(runtime_port, partition_id, name)
        return supernode

    def start_worker(self, runtime_port: int, partition_id: int, name: str) -> None:
        """The ``ClientAppWorker`` process of the SuperNode whose Runtime API is on ``runtime_port``."""
        self.start_process([sys.executable, "-m", "colearn_nb.flower.deploy.worker",
                            "--runtime-api-address", f"127.0.0.1:{runtime_port}", "--app", self.client_app],
                           f"worker_{name}")

    def start(self) -> LoopbackFederation:
        """Start the SuperLink, register one key per learner and start its SuperNode."""
        self.start_superlink()
        for partition_id in range(self.n_learners):
            private_key, public_key = make_node_keys(self.directory / "keys", f"node{partition_id}")
            self.register(public_key)
            self.start_supernode(partition_id, private_key)
        return self

    def run(self, n_rounds: int, vote_threshold: float = 0.5, seed: int = 0, timeout: float = 300.0,
            learning_rate: float = 1e-3, round_deadline: float | None = None,
            on_round: Callable[[Results], None] | None = None) -> Results:
        """``flwr run`` the app (its ``client_app``) on this federation; its ``Results`` once written.

        ``on_round(results)`` is called with the rounds so far as they complete (read from the file the
        ServerApp writes after every round). A failed ServerApp raises ``RuntimeError`` with its reason as
        soon as it ends. The teacher's ``controls``, if changed, are written for the ServerApp before it
        starts (``set_controls`` changes them during the run).
        """
        results_path = self.directory / f"results_{len(self.processes)}.json"
        self.files = ResultsFiles(results_path)
        if self.controls is not None:
            self.files.write_controls(self.controls)
        app = write_flower_app(self.directory / "app", self.n_learners, n_rounds, vote_threshold, seed,
                               results_path, timeout, fast_polling=self.fast, learning_rate=learning_rate,
                               round_deadline=round_deadline, client_app=self.client_app)
        self.flwr_json("run", str(app))
        return follow_rounds(results_path, timeout, on_round, self.directory / "logs")

    def set_controls(self, controls: ClassControls) -> None:
        """The teacher's live controls from the next round that begins (``ClassControls``)."""
        self.controls = controls
        if self.files is not None:
            self.files.write_controls(controls)

    def close(self) -> None:
        """End every process this federation started, each by its process group id; then the guard."""
        for process in reversed(self.processes):
            self.end_process(process)
        self.guard.close()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
