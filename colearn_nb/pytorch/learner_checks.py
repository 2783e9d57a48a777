"""What ``PytorchLearner`` checks in its arguments, and in what its ``vote_criterion`` returns."""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable, Sized
from typing import cast

import torch

HIGHER_IS_BETTER_WORDS = ("accuracy", "f1", "auc", "precision", "recall", "r2")


def loader_length(loader: Iterable) -> int | None:
    """The number of batches of ``loader``, or None when it has no length (e.g. over an IterableDataset).

    >>> loader_length([(1, 2), (3, 4)]), loader_length(iter([]))
    (2, None)
    """
    if not hasattr(loader, "__len__"):
        return None
    try:
        return len(cast(Sized, loader))
    except TypeError:  # a DataLoader over an IterableDataset has __len__ but no length
        return None


def check_loader(name: str, loader: Iterable | None, required: bool = True) -> None:
    """Refuse a missing loader (where ``required``) and an empty one, naming it."""
    if loader is None:
        if required:
            raise ValueError(f"{name}: got None; "
                             "pass a DataLoader (or any iterable of (inputs, labels) batches)")
        return
    if loader_length(loader) == 0:
        raise ValueError(f"{name}: the loader is empty (0 batches); give this learner some data")


def check_scheduler(scheduler: object, optimizer: torch.optim.Optimizer) -> None:
    """Refuse a scheduler that is not a metric-free ``lr_scheduler`` on ``optimizer`` (None passes)."""
    if scheduler is None:
        return
    kinds = torch.optim.lr_scheduler
    if not isinstance(scheduler, kinds.LRScheduler) or isinstance(scheduler, kinds.ReduceLROnPlateau):
        raise ValueError(f"scheduler: got {type(scheduler).__name__}; expected a torch.optim.lr_scheduler "
                         "stepped without a metric (e.g. StepLR), or None")
    if scheduler.optimizer is not optimizer:
        raise ValueError("scheduler: got a scheduler of another optimizer; expected one built on this "
                         "learner's optimizer, e.g. StepLR(optimizer, step_size=10)")


def check_direction(vote_criterion: Callable | None, minimise_criterion: bool) -> None:
    """Refuse a criterion marked ``higher_is_better`` with ``minimise_criterion=True``; warn on its name."""
    if vote_criterion is None or not minimise_criterion:
        return
    name = getattr(vote_criterion, "__name__", type(vote_criterion).__name__)
    if getattr(vote_criterion, "higher_is_better", False):
        raise ValueError(f"minimise_criterion: got True, but vote_criterion {name} is higher-is-better, so "
                         "every vote would be inverted; pass minimise_criterion=False")
    if any(word in name.lower() for word in HIGHER_IS_BETTER_WORDS):
        warnings.warn(f"vote_criterion {name} sounds higher-is-better, but minimise_criterion=True makes "
                      "lower scores win the vote: pass minimise_criterion=False if higher is better (set "
                      f"{name}.higher_is_better = False to silence this)", stacklevel=3)


def as_score(value: object) -> float:
    """The number ``vote_criterion`` returned (a float, an int or a one-element tensor); else raise.

    >>> as_score(torch.tensor([0.25]))
    0.25
    """
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"vote_criterion: returned {value!r}; expected a number (a float or a one-element "
                         "tensor), e.g. return (outputs.argmax(1) == labels).float().mean().item()")
    return float(value)
