"""How a ``PytorchLearner``'s proposal trains: the training strategy the learner is given.

A strategy holds the optimizer and the loader the learner trains with, takes one ``step`` per batch and
keeps whatever accounts its training needs. ``SgdTraining`` is the default: the optimizer's step on the
batch's loss. ``PrivateTraining`` (``privacy.py``) is DP-SGD: clipped, noised steps on Poisson-sampled
batches, and a privacy budget that can refuse to train.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

import torch

from .privacy import DiffPrivConfig, PrivateTraining

LossOf = Callable[[Any, torch.Tensor], torch.Tensor]  # (inputs, labels) -> the batch's loss on the model


class TrainingStrategy(Protocol):
    """What a learner asks of its training: the optimizer and loader, a step per batch, the accounts."""

    optimizer: torch.optim.Optimizer
    loader: Iterable

    def refusal(self, num_train_batches: int | None, extra_loss: Callable | None) -> dict[str, Any] | None:
        """The training summary of a proposal that must not train, else None; raise where it cannot."""

    def quiet(self) -> AbstractContextManager[None]:
        """A block to train in, silencing the strategy's per-batch warnings."""

    def step(self, loss_of: LossOf, inputs: Any, labels: torch.Tensor) -> torch.Tensor:
        """One optimizer step on a batch; the batch's mean loss, detached."""

    def summary(self) -> dict[str, Any]:
        """What a proposal's training summary adds (DP-SGD: the budget spent)."""

    def history(self) -> list[list[float]]:
        """The accounts to save with a checkpoint, as plain data (DP-SGD: the accountant's history)."""

    def load_history(self, saved: list) -> None:
        """Restore what ``history`` returned."""


class SgdTraining:
    """The default strategy: ``optimizer.zero_grad``, the batch's loss, ``backward``, ``optimizer.step``."""

    def __init__(self, optimizer: torch.optim.Optimizer, loader: Iterable):
        self.optimizer, self.loader = optimizer, loader

    def refusal(self, num_train_batches: int | None, extra_loss: Callable | None) -> dict[str, Any] | None:
        """Always None: plain training always trains."""
        return None

    def quiet(self) -> AbstractContextManager[None]:
        """Nothing to silence."""
        return nullcontext()

    def step(self, loss_of: LossOf, inputs: Any, labels: torch.Tensor) -> torch.Tensor:
        """One optimizer step on the batch's loss (``extra_loss`` included by ``loss_of``); the loss."""
        self.optimizer.zero_grad()
        loss = loss_of(inputs, labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def summary(self) -> dict[str, Any]:
        """Nothing to add."""
        return {}

    def history(self) -> list[list[float]]:
        """No accounts."""
        return []

    def load_history(self, saved: list) -> None:
        """No accounts to restore."""


def training_for(model: torch.nn.Module, optimizer: torch.optim.Optimizer, train_loader: Iterable,
                 diff_priv_config: DiffPrivConfig | None) -> TrainingStrategy:
    """DP-SGD (``PrivateTraining``) with a ``diff_priv_config``, else ``SgdTraining`` on the learner's own."""
    if diff_priv_config is None:
        return SgdTraining(optimizer, train_loader)
    return PrivateTraining(model, optimizer, train_loader, diff_priv_config)
