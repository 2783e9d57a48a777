"""A long-lived ClientApp worker for a SuperNode started with ``--isolation process``.

With Flower's default (``--isolation subprocess``) every message starts a fresh
``flwr-clientapp`` process, which imports torch and builds the learner again: seconds per
message. This worker does that job for one SuperNode in one process that stays up: it takes
each ClientApp task from the SuperNode's Runtime API, runs the ClientApp in-process and
pushes its reply, so torch is imported and the learner built once per run.

With ``--app module:attribute`` it runs only that ClientApp, imported from what is installed on
this machine: a run whose app bundle names another ClientApp is refused, and no code from the
bundle is installed or run.

    flower-supernode --isolation process --host 127.0.0.1 --port 9094 ...   # then, beside it:
    python -m colearn_nb.flower.deploy.worker --runtime-api-address 127.0.0.1:9094 \
        --app colearn_nb.flower.mnist_app:client_app

With ``--nodes-dir DIR`` one worker process serves many SuperNodes, each in a thread: every ``WorkerNode``
file in ``DIR`` names one (a rehearsal's pretend laptops share it: one torch for all their learners).
Taught in notebook 12 (its deployment recipe).
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flwr.clientapp import ClientApp
    from flwr.supercore.runtime import RuntimeHttpClient

logger = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.02  # right after a task; flower-superexec's default: 1 s
IDLE_POLL_S = 0.1  # the longest wait between polls when idle: at 0.02 s a waiting laptop used 16% of a core
SHARED_IDLE_POLL_S = 0.5  # a worker serving many SuperNodes: 30 of them, 60 polls a second at most
NUDGED_IDLE_POLL_S = 1.0  # a worker its SuperNode nudges (``Nudges``) polls only in case a nudge is missed
APP_LOCK = threading.Lock()  # one ClientApp call at a time in a process (learners seed torch's global RNG)


class Nudges:
    """What a SuperNode and the worker thread in its process tell each other at once, rather than polling.

    ``pulled``: the SuperNode stored a message for its worker; ``replied``: the worker pushed its reply.

    >>> nudges = Nudges()
    >>> nudges.pulled.set(); Nudges.wait(nudges.pulled, 5.0), nudges.pulled.is_set()
    (True, False)
    """

    def __init__(self) -> None:
        self.pulled, self.replied = threading.Event(), threading.Event()

    def __repr__(self) -> str:
        return f"Nudges(pulled={self.pulled.is_set()}, replied={self.replied.is_set()})"

    @staticmethod
    def wait(event: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``event``, then reset it; whether it came (a waiter rechecks anyway)."""
        came = event.wait(seconds)
        event.clear()
        return came


def runtime_client(address: str, token: str | None = None) -> RuntimeHttpClient:
    """An HTTP client of the SuperNode's Runtime API on loopback; with ``token``, one task's client.

    Connection errors are retried (a task's for up to 60 s); an HTTP error status is raised at
    once, so one failed task never stops the worker (Flower's own client signals its process).
    """
    import httpx
    from flwr.supercore.interceptors import RuntimeTokenHttpInterceptor, RuntimeVersionHttpInterceptor
    from flwr.supercore.retry import RetryInvoker, exponential
    from flwr.supercore.runtime import RuntimeHttpClient

    interceptors = [RuntimeVersionHttpInterceptor(component_name="flwr-clientapp")]
    if token is not None:
        interceptors.append(RuntimeTokenHttpInterceptor(token))
    retry = RetryInvoker(lambda: exponential(base_delay=0.1, max_delay=2), httpx.TransportError,
                         max_tries=None, max_time=None if token is None else 60.0)
    return RuntimeHttpClient.from_server_address(server_address=address, insecure=True,
                                                 root_certificates=None, interceptors=interceptors,
                                                 retry_invoker=retry)


def acquire_token(client: RuntimeHttpClient) -> str | None:
    """The token of the next ClientApp task waiting at the SuperNode, or ``None`` when there is none."""
    from flwr.proto.runtime_pb2 import AcquireTaskRequest  # pylint: disable=no-name-in-module
    from flwr.supercore.constant import TaskType

    reply = client.AcquireTask(AcquireTaskRequest(supported_task_types=[TaskType.CLIENT_APP]))
    return reply.token if reply.HasField("task") and reply.token else None


def task_heartbeat(client: RuntimeHttpClient) -> bool:
    """Tell the SuperNode the task is alive (silent tasks expire after 60 s); ``False`` if not heard."""
    import httpx
    from flwr.proto.runtime_pb2 import SendTaskHeartbeatRequest  # pylint: disable=no-name-in-module

    try:
        client.SendTaskHeartbeat(SendTaskHeartbeatRequest())
    except httpx.HTTPError:
        return False
    return True  # unlike flwr-clientapp's, a stopped run does not interrupt this process


class ClientAppWorker:
    """Runs the SuperNode's ClientApp tasks in this process; each run's ClientApp is loaded once.

    ``app`` ("module:attribute"): run only that locally installed ClientApp (see the module's note).

    >>> ClientAppWorker("127.0.0.1:9094", app="colearn_nb.flower.mnist_app:client_app")
    ClientAppWorker(127.0.0.1:9094, only colearn_nb.flower.mnist_app:client_app, 0 tasks done, 0 apps loaded)
    """

    def __init__(self, runtime_api_address: str, poll_interval: float = POLL_INTERVAL_S,
                 app: str | None = None, node_config: dict[str, Any] | None = None,
                 idle_poll: float = IDLE_POLL_S, nudges: Nudges | None = None):
        if app is not None and app.count(":") != 1:
            raise ValueError(f"app: got {app!r}; expected 'module:attribute', e.g. "
                             "'colearn_nb.flower.mnist_app:client_app'")
        self.address, self.poll_interval, self.app = runtime_api_address, poll_interval, app
        self.node_config = node_config  # the SuperNode's, to build its learner ahead (``warm_up``)
        self.idle_poll = idle_poll  # the longest wait between polls while no task comes
        self.nudges = nudges  # its SuperNode's, when both run in one process: idle waits end at a message
        self.apps: dict[str, ClientApp] = {}  # FAB hash -> its ClientApp
        self.loaded: ClientApp | None = None  # ``app``, once ``warm_up`` imported it
        self.tasks_done = 0

    def __repr__(self) -> str:
        only = f"only {self.app}" if self.app else "any app"
        return (f"ClientAppWorker({self.address}, {only}, {self.tasks_done} tasks done, "
                f"{len(self.apps)} apps loaded)")

    def client_app(self, run, fab) -> ClientApp:
        """The ClientApp for the run's FAB (app bundle), loaded the first time the bundle is seen."""
        if fab.hash_str not in self.apps:
            self.apps[fab.hash_str] = self._local_app(fab) if self.app else self._bundled_app(run, fab)
        return self.apps[fab.hash_str]

    def warm_up(self) -> None:
        """Import ``app`` and build its learner once, before any run (torch, the data, the model): a laptop
        is ready when the class starts instead of doing that then, all laptops at once."""
        if self.app is None:
            return
        started = time.perf_counter()
        try:
            self.loaded = self._import_app()
        except Exception:  # pylint: disable=broad-except  # the worker goes on: each task answers the error
            logger.exception("importing %s failed; every message will be answered with this error", self.app)
            return
        prepare = getattr(self.loaded, "colearn_prepare", None)  # ``client.make_client_app``'s
        if prepare is not None and self.node_config is not None:
            try:
                with APP_LOCK:
                    prepare(self.node_config)
            except Exception:  # pylint: disable=broad-except  # only a head start: the run builds it anyway
                logger.warning("building the learner ahead failed; it is built when the run begins",
                               exc_info=True)
        logger.info("%s ready in %.2f s", self.app, time.perf_counter() - started)

    def _import_app(self) -> ClientApp:
        module, attribute = str(self.app).split(":")
        return getattr(importlib.import_module(module), attribute)

    def _local_app(self, fab) -> ClientApp:
        """``self.app`` imported from this machine, if the bundle names that very ClientApp."""
        from flwr.common.config import get_fab_config

        named = get_fab_config(fab.content)["tool"]["flwr"]["app"]["components"]["clientapp"]
        if named != self.app:
            raise PermissionError(f"this worker runs only {self.app}; the run's app bundle names {named}")
        return self.loaded if self.loaded is not None else self._import_app()

    @staticmethod
    def _bundled_app(run, fab) -> ClientApp:
        """The ClientApp the bundle names, installed and imported as ``flwr-clientapp`` does."""
        from flwr.cli.install import install_from_fab
        from flwr.clientapp.utils import get_load_client_app_fn

        install_from_fab(fab.content, skip_prompt=True)
        load = get_load_client_app_fn(default_app_ref="", app_path=None, multi_app=True)
        return load(run.fab_id, run.fab_version, fab.hash_str)

    def run_task(self, token: str) -> None:
        """Pull the task's message, answer it with the ClientApp (or an error), push reply and context."""
        from flwr.app import Message
        from flwr.app.error import Error
        from flwr.common.constant import ErrorCode, SubStatus
        from flwr.supercore.heartbeat import HeartbeatSender
        from flwr.supernode.runtime.run_clientapp import pull_task_input, push_message, push_task_output

        client = runtime_client(self.address, token)
        heartbeat = HeartbeatSender(lambda: task_heartbeat(client))
        heartbeat.start()
        context, status, details = None, SubStatus.FAILED, "the ClientApp worker failed"
        try:
            message, context, run, fab = pull_task_input(client)
            started = time.perf_counter()
            try:
                with APP_LOCK:
                    reply = self.client_app(run, fab)(message=message, context=context)
                status, details = SubStatus.COMPLETED, ""
            except Exception as exc:  # pylint: disable=broad-except  # the server hears of it, the worker goes on
                logger.exception("the ClientApp raised an exception")
                details = f"{type(exc)}:<'{exc}'>"
                reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=details),
                                reply_to=message)
            push_message(client, reply, context)
            if self.nudges is not None:
                self.nudges.replied.set()
            logger.info("answered %s in %.2f s", message.metadata.message_type, time.perf_counter() - started)
        finally:
            heartbeat.stop()
            push_task_output(client, context, status, details)
            client.close()
            self.tasks_done += 1

    def serve(self, stop: threading.Event | None = None) -> None:
        """Take and run tasks until ``stop`` is set (or forever); polls ``poll_interval`` after a task, the
        wait doubling up to ``idle_poll`` while none comes; a nudge (``Nudges.pulled``) ends a wait at once.

        A task that fails is logged and answered with an error where possible; the worker goes on.
        """
        stop = stop or threading.Event()
        client = runtime_client(self.address)
        idle = 0.0
        try:
            while not stop.is_set():
                token = acquire_token(client)
                if token is None:
                    idle = min(idle * 2, self.idle_poll) if idle else self.poll_interval
                    self._wait_idle(stop, idle)
                    continue
                idle = 0.0
                try:
                    self.run_task(token)
                except Exception:  # pylint: disable=broad-except
                    logger.exception("task failed; waiting for the next one")
        finally:
            client.close()

    def _wait_idle(self, stop: threading.Event, seconds: float) -> None:
        """Wait ``seconds`` or until ``stop``; with nudges, until the SuperNode pulls a message."""
        if self.nudges is None:
            stop.wait(seconds)
        else:
            Nudges.wait(self.nudges.pulled, seconds)


@dataclass(frozen=True)
class WorkerNode:
    """A SuperNode for a shared worker to serve: its Runtime API and node config, one JSON file each.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "node3.json"
    >>> WorkerNode("127.0.0.1:9094", {"partition-id": 3, "num-partitions": 30}).write(path)
    >>> WorkerNode.read(path).node_config["partition-id"]
    3
    """

    runtime_api_address: str
    node_config: dict[str, Any]

    def write(self, path: Path) -> None:
        """Write it to ``path`` whole (written beside, then renamed): a reader never sees half of it."""
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(self)))
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> WorkerNode:
        """The node a file written by ``write`` names."""
        return cls(**json.loads(path.read_text()))


def serve_nodes(directory: Path, app: str, stop: threading.Event | None = None) -> None:
    """Serve each SuperNode a ``WorkerNode`` file in ``directory`` names, in a thread of its own, until its
    file is removed (or ``stop`` is set); learners take turns (``APP_LOCK``)."""
    stop, running = stop or threading.Event(), dict[Path, threading.Event]()
    while not stop.is_set():
        files = set(directory.glob("*.json"))
        for path in files - running.keys():
            running[path] = threading.Event()
            worker = ClientAppWorker(**asdict(WorkerNode.read(path)), app=app, idle_poll=SHARED_IDLE_POLL_S)
            threading.Thread(target=warm_and_serve, args=(worker, running[path]), daemon=True,
                             name=f"colearn-worker-{path.stem}").start()
        for path in running.keys() - files:
            running.pop(path).set()
        stop.wait(0.2)
    for ended in running.values():
        ended.set()


def warm_and_serve(worker: ClientAppWorker, stop: threading.Event | None = None) -> None:
    """``worker.warm_up()``, then ``worker.serve(stop)``: a worker thread's whole life."""
    worker.warm_up()
    worker.serve(stop)


def main(argv: list[str] | None = None) -> None:
    """``python -m colearn_nb.flower.deploy.worker --runtime-api-address HOST:PORT``: serve one SuperNode."""
    from ..environment import quiet_flower_environment, require_flwr

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    serves = parser.add_mutually_exclusive_group(required=True)
    serves.add_argument("--runtime-api-address",
                        help="the SuperNode's Runtime API, the --host:--port it was started with")
    serves.add_argument("--nodes-dir", type=Path,
                        help="serve every SuperNode a WorkerNode file in this folder names (needs --app)")
    parser.add_argument("--app", help="run only this ClientApp ('module:attribute'), as installed on this "
                        "machine; a run whose app names another is refused (default: the app the run names)")
    parser.add_argument("--poll-interval", type=float, default=POLL_INTERVAL_S,
                        help=f"seconds between asking for a task when none waits (default {POLL_INTERVAL_S})")
    args = parser.parse_args(argv)
    if not 0.001 <= args.poll_interval <= 60:
        parser.error(f"--poll-interval: got {args.poll_interval}; expected 0.001 to 60 seconds")
    if args.nodes_dir is not None and args.app is None:
        parser.error("--nodes-dir: needs --app, the ClientApp every node runs")
    require_flwr()
    quiet_flower_environment()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise
    if args.nodes_dir is not None:
        try:
            serve_nodes(args.nodes_dir, args.app)
        except KeyboardInterrupt:
            logger.info("the shared worker stopped")
        return
    started = time.monotonic()
    try:
        worker = ClientAppWorker(args.runtime_api_address, args.poll_interval, args.app)
    except ValueError as exc:
        parser.error(f"--{exc}")
    try:
        worker.warm_up()
        worker.serve()
    except KeyboardInterrupt:
        logger.info("%r stopped after %.0f s", worker, time.monotonic() - started)


if __name__ == "__main__":
    main()
