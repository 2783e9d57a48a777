"""A Flower simulation of collective learning, run from Python or a notebook, returning ``Results``.

Two ways to run Flower's simulation engine, with the same messages and the same ``Results``: on Ray
(the learners' ClientApps in a Ray worker process beside Ray's own seven processes; notebook 12 then
peaks at 2.7 GB: kernel 1.07, Ray's worker 1.0, Ray's others 0.65), or ``"in-process"`` (the
ClientApps in a thread of this process, no Ray; notebook 12 then peaks at 1.0 GB). Without a choice,
Ray is used unless this machine's memory limit (cgroup) is under ``RAY_NEEDS_BYTES``, as on
mybinder.org (2 GB); ``COLEARN_NB_FLOWER_BACKEND`` forces one.
Taught in notebook 12.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from ..protocol.class_controls import ClassControls
from ..protocol.results import Results
from .client import LearnerFn, make_client_app
from .environment import memory_limit_bytes, quiet_flower_environment, require_flwr
from .server import check_counts, make_server_app

DEPRECATION_NOTE = "`run_simulation` function is deprecated"
BACKENDS = ("ray", "in-process")
BACKEND_VARIABLE = "COLEARN_NB_FLOWER_BACKEND"
RAY_NEEDS_BYTES = 3 * 2**30  # benchmarks/notebooks.py: notebook 12 on Ray peaks at 2.7 GB (2.5 GiB)


class _DropDeprecationNote(logging.Filter):
    """Drops Flower's note that ``run_simulation`` is deprecated in favour of ``flwr run``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return DEPRECATION_NOTE not in record.getMessage()


def _engine(backend: str, why: str) -> AbstractContextManager[str]:
    """A context in which Flower's engine uses ``backend``; yields the name to pass to ``run_simulation``."""
    if backend == "ray":
        return nullcontext("ray")
    from .in_process import engine_in_this_process

    print(f"Flower's ClientApps run in this process, without Ray ({why}): same messages, same Results")
    return engine_in_this_process()


@contextmanager
def _flower_logging(verbose: bool) -> Iterator[None]:
    """Flower's log at WARNING (INFO when ``verbose``), without the deprecation note, restored afterwards."""
    flwr_logger = logging.getLogger("flwr")
    level, note = flwr_logger.level, _DropDeprecationNote()
    flwr_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    flwr_logger.addFilter(note)
    try:
        yield
    finally:
        flwr_logger.removeFilter(note)
        flwr_logger.setLevel(level)


def choose_backend(backend: str | None = None, limit_bytes: int | None = None) -> tuple[str, str]:
    """The backend to run on and why: ``backend``, else ``$COLEARN_NB_FLOWER_BACKEND``, else by memory limit.

    ``limit_bytes`` is the memory limit to plan for (default: this machine's cgroup limit).

    >>> choose_backend(limit_bytes=2 * 2**30)[0]
    'in-process'
    >>> choose_backend("ray")
    ('ray', 'asked for')
    """
    if backend is None and os.environ.get(BACKEND_VARIABLE):
        backend, why = os.environ[BACKEND_VARIABLE], f"set by {BACKEND_VARIABLE}"
    else:
        why = "asked for"
    if backend is not None:
        if backend not in BACKENDS:
            raise ValueError(f"backend: got {backend!r}; expected one of {', '.join(map(repr, BACKENDS))}")
        return backend, why
    limit = memory_limit_bytes() if limit_bytes is None else limit_bytes
    if limit is not None and limit < RAY_NEEDS_BYTES:
        return "in-process", (f"this machine's memory limit, {limit / 2**30:.1f} GB, is under the "
                              f"{RAY_NEEDS_BYTES / 2**30:.0f} GB that Ray's processes need")
    return "ray", f"no memory limit under {RAY_NEEDS_BYTES / 2**30:.0f} GB"


def run_flower_simulation(make_learner: LearnerFn, n_learners: int, n_rounds: int,
                          vote_threshold: float = 0.5, num_cpus_per_learner: float = 2,
                          timeout: float = 300.0, verbose: bool = False,
                          on_round: Callable[[Results], None] | None = None,
                          backend: str | None = None,
                          controls: Callable[[], ClassControls | None] | None = None) -> Results:
    """Run collective learning on Flower's simulation engine: a ServerApp and one SuperNode per learner.

    ``make_learner(partition_id)`` builds learner ``partition_id`` where its ClientApp runs (on Ray, in
    a worker process: it must be picklable). Returns the same ``Results`` as the in-process driver.
    ``backend`` is ``"ray"`` or ``"in-process"`` (see ``choose_backend``; the in-process one says so in
    a printed line). ``num_cpus_per_learner`` is the share of CPUs Ray gives each ClientApp (fewer: more
    run at once); ``on_round(results)`` is called in this process after every round (e.g. to plot live).
    ``controls()``, if given, is called before each round: a class's live controls (``ClassControls``: the
    vote threshold, learners told to propose an attack) or ``None``; each round's ``Result`` records them.
    """
    check_counts(n_learners, n_rounds)
    backend, why = choose_backend(backend)
    require_flwr()
    quiet_flower_environment()
    from flwr.simulation import run_simulation

    collected: list[Results] = []
    server_app = make_server_app(n_learners, n_rounds, vote_threshold, collected.append, timeout, on_round,
                                 controls=controls)
    backend_config: dict[str, Any] = {"client_resources": {"num_cpus": num_cpus_per_learner, "num_gpus": 0.0}}
    with _flower_logging(verbose), _engine(backend, why) as backend_name:
        run_simulation(server_app=server_app, client_app=make_client_app(make_learner),
                       num_supernodes=n_learners, backend_name=backend_name,
                       backend_config=backend_config, verbose_logging=verbose)
    if not collected:
        raise RuntimeError("the Flower simulation ended without results; "
                           "run again with verbose=True to see its log")
    return collected[0]
