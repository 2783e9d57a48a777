"""Flower's SuperNode (``flower-supernode``), asking the SuperLink for messages every ``POLL_S`` when idle.

Flower 1.42's SuperNode sleeps 3 s after every pull that brought no message (the loop of
``flwr.supernode.start_client_internal``), so a laptop sees each step of a round 1.5 s late on average and
up to 3 s: of a round's 8 s on this machine (3 laptops, quiet), 7 s were messaging and 1 s compute. This
runs the same SuperNode, same options, with that one idle sleep shortened to ``POLL_S``; everything else
is Flower's. ``LoopbackFederation.start_supernode`` (the class's laptops too) starts it.

With ``--worker-app module:attribute`` (and ``--isolation process``) the SuperNode's ``ClientAppWorker``
runs in a thread of this same process instead of a process beside it: one Python, one copy of Flower's
client side on a laptop. It imports the app and builds its learner as soon as the SuperNode starts. The
two wake each other (``worker.Nudges``): the worker takes a message as soon as the SuperNode has pulled it,
and the SuperNode sends the reply as soon as the worker has pushed it (Flower's loop looks every 0.5 s);
the worker polls only once a second in case a nudge is missed.

    python -m colearn_nb.flower.deploy.supernode --superlink 127.0.0.1:9092 ...   # flower-supernode's options
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
import threading
import time
from typing import Any

from .worker import Nudges

logger = logging.getLogger(__name__)
POLL_S = 0.5  # seconds between pulls when idle: 2 requests a second per laptop, 60 for a room of 30
FLOWER_IDLE_S = 3  # Flower's own idle sleep, the one replaced
FLOWER_REPLY_WAIT_S = 0.5  # Flower's sleep while a reply is not yet in: a nudge from the worker ends it


class QuickerIdle:
    """The ``time`` module as Flower's SuperNode loop sees it: its idle sleep of 3 s is ``POLL_S``; with
    ``replied`` (the worker thread's ``Nudges.replied``), its 0.5 s waits for a reply end when it is pushed.

    >>> QuickerIdle().monotonic() > 0
    True
    """

    def __init__(self, replied: threading.Event | None = None) -> None:
        self.replied = replied

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        """Sleep ``POLL_S`` for Flower's idle 3 s, until the reply for its 0.5 s; any other time as asked."""
        if seconds == FLOWER_IDLE_S:
            time.sleep(POLL_S)
        elif seconds == FLOWER_REPLY_WAIT_S and self.replied is not None:
            Nudges.wait(self.replied, seconds)
        else:
            time.sleep(seconds)


def poll_quicker(nudges: Nudges | None = None) -> bool:
    """Shorten the SuperNode loop's idle sleep (and, with ``nudges``, let its worker thread and it wake each
    other); False (Flower's own waits kept, a warning) if its loop changed."""
    from flwr.supernode import start_client_internal as loop

    if getattr(loop, "time", None) is not time and not isinstance(getattr(loop, "time", None), QuickerIdle):
        logger.warning("flwr.supernode.start_client_internal has no 'time' module to patch: polling every "
                       "%d s, Flower's own", FLOWER_IDLE_S)
        return False
    if nudges is not None and not nudge_on_pull(loop, nudges):
        return False
    loop.time = QuickerIdle(None if nudges is None else nudges.replied)  # type: ignore[assignment]
    return True


def nudge_on_pull(loop: Any, nudges: Nudges) -> bool:
    """Make the loop's ``_pull_and_store_message`` set ``nudges.pulled`` when it stored a message."""
    pull = getattr(loop, "_pull_and_store_message", None)
    if pull is None:
        logger.warning("flwr.supernode.start_client_internal has no _pull_and_store_message: the worker "
                       "polls for messages")
        return False
    pull = getattr(pull, "__wrapped__", pull)  # patched once already: wrap Flower's own

    @functools.wraps(pull)
    def pull_and_nudge(*args: Any, **kwargs: Any) -> Any:
        run_id = pull(*args, **kwargs)
        if run_id is not None:
            nudges.pulled.set()
        return run_id

    loop._pull_and_store_message = pull_and_nudge  # pylint: disable=protected-access
    return True


def split_worker_options(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """``--worker-app`` and what the worker needs of ``flower-supernode``'s options; all but the first.

    >>> options, rest = split_worker_options(["--worker-app", "m:app", "--port", "9094", "--insecure"])
    >>> options.worker_app, options.port, rest
    ('m:app', 9094, ['--port', '9094', '--insecure'])
    """
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--worker-app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9094)
    parser.add_argument("--node-config", default="")
    options, _ = parser.parse_known_args(argv)
    rest = list(argv)
    if options.worker_app is not None:
        at = rest.index("--worker-app")
        del rest[at:at + 2]
    return options, rest


def start_worker(options: argparse.Namespace, nudges: Nudges | None = None) -> threading.Thread:
    """The ``ClientAppWorker`` of ``options.worker_app`` in a daemon thread, serving this SuperNode; with
    ``nudges`` (installed by ``poll_quicker``) it polls only in case a nudge is missed."""
    from flwr.common.config import parse_config_args

    from .worker import IDLE_POLL_S, NUDGED_IDLE_POLL_S, ClientAppWorker, warm_and_serve

    node_config = parse_config_args([options.node_config]) if options.node_config else None
    worker = ClientAppWorker(f"{options.host}:{options.port}", app=options.worker_app,
                             node_config=node_config, nudges=nudges,
                             idle_poll=IDLE_POLL_S if nudges is None else NUDGED_IDLE_POLL_S)
    thread = threading.Thread(target=warm_and_serve, args=(worker,), name="colearn-worker", daemon=True)
    thread.start()
    return thread


def log_to_stderr(name: str = "colearn_nb") -> None:
    """Show ``name``'s INFO lines (the worker's "answered ... in X s") in this process's log."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logging.getLogger(name).addHandler(handler)
    logging.getLogger(name).setLevel(logging.INFO)


def main() -> None:
    """``flower-supernode`` with the shorter idle poll, its options from the command line."""
    from flwr.supernode.cli import flower_supernode

    options, rest = split_worker_options(sys.argv[1:])
    if options.worker_app is None:
        poll_quicker()
    else:
        nudges: Nudges | None = Nudges()
        if not poll_quicker(nudges):
            nudges = None
            poll_quicker()
        log_to_stderr()
        logging.getLogger("colearn_nb").info(  # this module is __main__ here
            "the worker %s", "and this SuperNode wake each other" if nudges else "polls for messages")
        start_worker(options, nudges)
    sys.argv = ["flower-supernode", *rest]
    flower_supernode()


if __name__ == "__main__":
    main()
