"""The tutorial's MNIST learners as a Flower app: a picklable learner factory, and the ClientApp.

``flwr run`` loads ``colearn_nb.flower.mnist_app:client_app`` on every SuperNode (beside the deployment's
ServerApp, ``colearn_nb.flower.deploy.server_app:server_app``); its learner comes from the run config
(``n-learners``, ``seed``, ``learning-rate``) and each SuperNode's ``partition-id``.
Taught in notebook 12.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..protocol.checks import check_int
from ..protocol.interface import MachineLearningInterface
from ..pytorch.seeding import random_states, seed_everything, set_random_states
from ..tutorial.factory import make_mnist_learners

logger = logging.getLogger(__name__)
# flwr run looks the apps up in __all__; F822: they are not undefined, the module __getattr__ makes them
__all__ = ["MnistLearnerFactory", "client_app"]  # noqa: F822


@dataclass(frozen=True)
class MnistLearnerFactory:
    """Builds learner ``partition_id`` as ``seed_everything(seed)`` then ``make_mnist_learners`` would.

    Only that learner is built (``only=``): a laptop of a class of 30 checks and scores one, not 30.

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
        (learner,) = make_mnist_learners(self.n_learners, self.batch_size, self.learning_rate,
                                         num_test_batches=self.num_test_batches, seed=self.seed,
                                         only=partition_id)
        return learner

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> MnistLearnerFactory:
        """The factory a Flower run config describes (keys ``n-learners``, ``seed``, ``learning-rate``)."""
        return cls(n_learners=int(run_config.get("n-learners", 5)), seed=int(run_config.get("seed", 0)),
                   learning_rate=float(run_config.get("learning-rate", 1e-3)))


# learners built when their laptop joined, each with the generators' state right after building it
_AHEAD: dict[tuple[MnistLearnerFactory, int], tuple[MachineLearningInterface, tuple]] = {}


def _learner_from_run_config(partition_id: int, run_config: Mapping[str, Any]) -> MachineLearningInterface:
    """The learner the run config describes; the one built ahead (``_build_ahead``) if it is that one."""
    factory = MnistLearnerFactory.from_run_config(run_config)
    ahead = _AHEAD.pop((factory, partition_id), None)
    if ahead is None:
        return factory(partition_id)
    learner, states = ahead
    set_random_states(states)  # as if it had been built just now
    return learner


def _build_ahead(node_config: Mapping[str, Any]) -> None:
    """Build the node's learner as the class's run config would (``client.class_run_config``)."""
    from .client import class_run_config

    partition_id = int(node_config["partition-id"])
    factory = MnistLearnerFactory.from_run_config(class_run_config(node_config))
    learner = factory(partition_id)
    _AHEAD[(factory, partition_id)] = (learner, random_states())


def __getattr__(name: str) -> Any:
    """``client_app`` is made on first use, so importing this module needs no ``flwr``."""
    if name == "client_app":
        from .client import make_client_app

        return make_client_app(_learner_from_run_config, takes_run_config=True, prepare=_build_ahead)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
