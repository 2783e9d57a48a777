"""The standard PyTorch loop of one model on all the data:
the reference collective learning is compared to.

Taught in notebook 01.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


def train_epoch(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loader: Iterable,
                criterion: Callable) -> float:
    """Train ``model`` for one pass over ``loader``; returns the mean training loss."""
    model.train()
    total_loss, n_batches = 0.0, 0
    for inputs, labels in loader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        total_loss, n_batches = total_loss + loss.item(), n_batches + 1
    if n_batches == 0:
        raise ValueError("loader: yielded no batches; give the model some training data")
    return total_loss / n_batches


@torch.no_grad()
def evaluate_accuracy(model: torch.nn.Module, loader: Iterable) -> float:
    """Fraction of the samples in ``loader`` whose highest output is the label.

    >>> from colearn_nb.pytorch.splitting import TensorLoader
    >>> evaluate_accuracy(torch.nn.Identity(), TensorLoader(torch.eye(3), torch.tensor([0, 1, 0])))
    0.6666666666666666
    """
    model.eval()
    correct, n_samples = 0, 0
    for inputs, labels in loader:
        correct += (model(inputs).argmax(dim=1) == labels).sum().item()
        n_samples += len(labels)
    if n_samples == 0:
        raise ValueError("loader: yielded no batches; give the model some data to evaluate")
    return correct / n_samples
