"""Collective learning on Flower: the same voting round with learners on separate machines; and
Flower's aggregation rules (FedAvg, FedProx, FedMedian, ...) run in this process (``run_federated``).

Needs the optional extra (``pip install -e .[flower]``); nothing here imports ``flwr``
until a function that needs it is called. Of the core kit, only the tutorial's fair comparison
imports this package (``aggregation``, for its federated averaging).

    from colearn_nb.flower import run_flower_simulation, MnistLearnerFactory
    results = run_flower_simulation(MnistLearnerFactory(n_learners=3), n_learners=3, n_rounds=2)
Taught in notebooks 11 (``run_federated``) and 12.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "make_client_app": "client", "make_server_app": "server", "run_colearn": "server",
    "run_flower_simulation": "simulation", "quiet_flower_environment": "environment",
    "require_flwr": "environment", "memory_limit_bytes": "environment", "choose_backend": "simulation",
    "MnistLearnerFactory": "mnist_app",
    "LoopbackFederation": "deploy.loopback", "write_flower_app": "deploy.loopback",
    "make_tls_files": "deploy.credentials", "make_node_keys": "deploy.credentials",
    "ClientAppWorker": "deploy.worker",
    "run_federated": "aggregation", "federated_round": "aggregation", "aggregate_updates": "aggregation",
    "make_strategy": "aggregation", "ProximalTerm": "aggregation", "RULES": "aggregation",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use (so ``flwr`` loads only when needed)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'colearn_nb.flower' has no attribute {name!r}")
    return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
