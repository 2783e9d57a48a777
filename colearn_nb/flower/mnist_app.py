"""The tutorial's MNIST learners as a Flower app: a picklable learner factory, and apps for ``flwr run``.

``flwr run`` loads ``colearn_nb.flower.mnist_app:server_app`` and ``:client_app``; their settings
come from the run config (``n-learners``, ``n-rounds``, ``vote-threshold``, ``seed``,
``results-path``, ``round-deadline``: seconds, 0 for none, see ``run_colearn``) and each SuperNode's
``partition-id``.
Taught in notebook 12.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..protocol.checks import check_int
from ..protocol.interface import MachineLearningInterface
from ..pytorch.seeding import seed_everything
from ..tutorial.factory import make_mnist_learners

logger = logging.getLogger(__name__)
# flwr run looks the apps up in __all__; F822: they are not undefined, the module __getattr__ makes them
__all__ = ["MnistLearnerFactory", "server_app", "client_app"]  # noqa: F822


@dataclass(frozen=True)
class MnistLearnerFactory:
    """Builds learner ``partition_id`` as ``seed_everything(seed)`` then ``make_mnist_learners`` would.

    >>> factory = MnistLearnerFactory(n_learners=2)
    >>> factory(1).minimise_criterion
    False
    """

    n_learners: int = 5
    seed: int = 0
    batch_size: int = 64
    learning_rate: float = 1e-3
    num_test_batches: int = 2

    def __call__(self, partition_id: int) -> MachineLearningInterface:
        check_int("partition_id", partition_id, 0, self.n_learners - 1)
        seed_everything(self.seed)
        return make_mnist_learners(self.n_learners, self.batch_size, self.learning_rate,
                                   num_test_batches=self.num_test_batches, seed=self.seed)[partition_id]

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> MnistLearnerFactory:
        """The factory a Flower run config describes (keys ``n-learners``, ``seed``, ``learning-rate``)."""
        return cls(n_learners=int(run_config.get("n-learners", 5)), seed=int(run_config.get("seed", 0)),
                   learning_rate=float(run_config.get("learning-rate", 1e-3)))


def _learner_from_run_config(partition_id: int, run_config: Mapping[str, Any]) -> MachineLearningInterface:
    return MnistLearnerFactory.from_run_config(run_config)(partition_id)


def _deployment_server_app():
    """The ServerApp for ``flwr run``: settings from the run config, ``Results`` written as JSON."""
    from flwr.serverapp import ServerApp

    from . import server
    from .server import run_colearn

    app = ServerApp()

    @app.main()
    def main(grid, context) -> None:
        config = context.run_config
        if not config.get("fast-polling", True):
            server.POLL_INTERVAL_S = None  # Flower's own send_and_receive, for comparison
        round_ends = [time.time()]  # when the ServerApp started, then the end of every round
        path = Path(str(config.get("results-path", "colearn_results.json")))

        def round_done(results) -> None:  # the rounds so far, whole, for whoever follows the run
            round_ends.append(time.time())
            results.save(path.with_suffix(".writing"))
            path.with_suffix(".writing").replace(path.with_suffix(".rounds.json"))

        try:
            results = run_colearn(grid, int(config.get("n-learners", 5)), int(config.get("n-rounds", 20)),
                                  float(config.get("vote-threshold", 0.5)), float(config.get("timeout", 300)),
                                  on_round=round_done,
                                  round_deadline=float(config.get("round-deadline", 0)) or None)
        except Exception as exc:  # whoever waits for the results learns why there are none
            path.with_suffix(".error").write_text(f"{type(exc).__name__}: {exc}")
            raise
        path.with_suffix(".times.json").write_text(json.dumps({"round_ends": round_ends}))
        results.save(path.with_suffix(".partial"))
        path.with_suffix(".partial").replace(path)  # whoever waits for the file sees it whole
        logger.info("%r written to %s", results, path)

    return app


def __getattr__(name: str) -> Any:
    """``server_app`` and ``client_app`` are made on first use, so importing this module needs no ``flwr``."""
    if name == "server_app":
        return _deployment_server_app()
    if name == "client_app":
        from .client import make_client_app

        return make_client_app(_learner_from_run_config, takes_run_config=True)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
