"""Scores for ``vote_criterion``: higher is better, so use ``minimise_criterion=False`` (else refused).

Taught in notebook 04.
"""
from __future__ import annotations

import torch


def categorical_accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples whose highest output is the label.

    >>> categorical_accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
    0.5
    """
    return (outputs.argmax(dim=1) == labels).double().mean().item()


def binary_accuracy_from_logits(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of samples where ``logit > 0`` matches the 0/1 label.

    >>> binary_accuracy_from_logits(torch.tensor([2.0, -1.0, 3.0]), torch.tensor([1, 0, 0]))
    0.6666666666666666
    """
    predictions = (outputs.reshape(-1) > 0).long()
    return (predictions == labels.reshape(-1).long()).double().mean().item()


def auc_from_logits(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Area under the ROC curve of binary logits (needs scikit-learn).

    >>> auc_from_logits(torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1]))
    0.75
    """
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels.reshape(-1).cpu().numpy(), outputs.reshape(-1).detach().cpu().numpy()))


# PytorchLearner refuses these with minimise_criterion=True; mark your own metric the same way
for _metric in (categorical_accuracy, binary_accuracy_from_logits, auc_from_logits):
    _metric.higher_is_better = True  # type: ignore[attr-defined]
