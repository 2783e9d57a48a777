"""A Flower simulation of collective learning, run from Python or a notebook, returning ``Results``."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..protocol.results import Results
from .client import LearnerFn, make_client_app
from .environment import quiet_flower_environment, require_flwr
from .server import check_counts, make_server_app

DEPRECATION_NOTE = "`run_simulation` function is deprecated"


class _DropDeprecationNote(logging.Filter):
    """Drops Flower's note that ``run_simulation`` is deprecated in favour of ``flwr run``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return DEPRECATION_NOTE not in record.getMessage()


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


def run_flower_simulation(make_learner: LearnerFn, n_learners: int, n_rounds: int,
                          vote_threshold: float = 0.5, num_cpus_per_learner: float = 2,
                          timeout: float = 300.0, verbose: bool = False,
                          on_round: Callable[[Results], None] | None = None) -> Results:
    """Run collective learning on Flower's simulation engine: one SuperNode per learner, each a process.

    ``make_learner(partition_id)`` builds learner ``partition_id`` inside the simulation's worker
    processes (it must be picklable). Returns the same ``Results`` as the in-process driver.
    ``num_cpus_per_learner`` is the share of CPUs Ray gives each ClientApp (fewer: more run at once);
    ``on_round(results)`` is called in this process after every round (e.g. to plot live).
    """
    check_counts(n_learners, n_rounds)
    require_flwr()
    quiet_flower_environment()
    from flwr.simulation import run_simulation

    collected: list[Results] = []
    server_app = make_server_app(n_learners, n_rounds, vote_threshold, collected.append, timeout, on_round)
    backend_config = {"client_resources": {"num_cpus": num_cpus_per_learner, "num_gpus": 0.0}}
    with _flower_logging(verbose):
        run_simulation(server_app=server_app, client_app=make_client_app(make_learner),
                       num_supernodes=n_learners, backend_config=backend_config, verbose_logging=verbose)
    if not collected:
        raise RuntimeError("the Flower simulation ended without results; "
                           "run again with verbose=True to see its log")
    return collected[0]
