"""Flower's simulation engine without Ray: every ClientApp runs in a thread of this process.

Flower 1.42's simulation engine (``flwr.server.superlink.fleet.vce``) has one backend, Ray: a GCS
server, a raylet, five Python helpers and a worker process holding the learners, 1.65 GB beside the
kernel in notebook 12 (2.7 GB in all, over mybinder.org's 2 GB). ``ThisProcessBackend`` does what
Ray's worker does for a message (``ClientAppActor.run``: build the ClientApp, call it, wrap its
errors) in this process; ``engine_in_this_process`` hands it to the engine for one run. Everything
else is Flower's: the ServerApp's Grid, the in-memory SuperLink state, every SuperNode's ``Context``,
the messages.
Needs ``flwr`` when it runs, never ``ray``. Taught in notebook 12.
"""
from __future__ import annotations

import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flwr.app import Context, Message
    from flwr.clientapp import ClientApp
    from flwr.server.superlink.fleet.vce.backend import BackendConfig

# the engine imports its backend from here when a run starts (flwr/server/superlink/fleet/vce/vce_api.py)
RAY_BACKEND_MODULE = "flwr.server.superlink.fleet.vce.backend.raybackend"
BACKEND_NAME = "in-process"  # a name Flower does not know, so it neither needs nor checks Ray


class ThisProcessBackend:
    """A simulation backend that runs each message's ClientApp here, one message at a time.

    It has the methods of Flower's ``Backend`` (``flwr.server.superlink.fleet.vce.backend``), which the
    engine calls; it does not derive from it, so that importing this module needs no ``flwr``.
    """

    def __init__(self, backend_config: BackendConfig) -> None:
        self.backend_config = backend_config
        self.app_fn: Callable[[], ClientApp] | None = None

    def build(self, app_fn: Callable[[], ClientApp]) -> None:
        """Keep the function that returns the ClientApp."""
        self.app_fn = app_fn

    @property
    def num_workers(self) -> int:
        """One: messages are handled in turn, as by a single Ray worker."""
        return 1

    def is_worker_idle(self) -> bool:
        """Always ready: the engine hands out one message at a time."""
        return True

    def terminate(self) -> None:
        """Nothing to stop."""

    def process_message(self, message: Message, context: Context) -> tuple[Message, Context]:
        """The ClientApp's reply to ``message`` and the node's updated ``context``."""
        from flwr.clientapp.client_app import ClientAppException, LoadClientAppError

        if self.app_fn is None:
            raise ValueError("ThisProcessBackend: build() was not called before the first message")
        try:
            reply = self.app_fn()(message=message, context=context)
        except LoadClientAppError:
            raise
        except Exception as exc:
            raise ClientAppException(str(exc)) from exc
        return reply, context


@contextmanager
def engine_in_this_process() -> Iterator[str]:
    """While open, Flower's engine builds a ``ThisProcessBackend``; yields the backend name to pass it."""
    stand_in = types.ModuleType(RAY_BACKEND_MODULE, "ThisProcessBackend in place of Flower's RayBackend")
    stand_in.RayBackend = ThisProcessBackend  # type: ignore[attr-defined]
    saved = sys.modules.get(RAY_BACKEND_MODULE)
    sys.modules[RAY_BACKEND_MODULE] = stand_in
    try:
        yield BACKEND_NAME
    finally:
        if saved is None:
            sys.modules.pop(RAY_BACKEND_MODULE, None)
        else:
            sys.modules[RAY_BACKEND_MODULE] = saved
