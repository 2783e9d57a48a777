"""Uneven splits of labels between learners: Dirichlet label skew and pathological (a few classes each).

Works on label arrays only (no tensors of inputs, no loaders), so a split is quick to draw and to test.
Several label arrays (a learner's training and held-out data) are split with *one* draw, so every
learner's held-out data follow the label mix of its training data.

- ``"dirichlet"``: each class's samples are shared out in proportions drawn from Dirichlet(``alpha``);
  a draw that leaves any learner fewer than ``min_size`` samples (in any of the arrays) is drawn again,
  at most ``max_tries`` times, as flwr-datasets' ``DirichletPartitioner`` does with ``min_partition_size``.
- ``"pathological"``: every learner holds ``n_classes_per_learner`` classes (as flwr-datasets'
  ``PathologicalPartitioner``); each class is shared equally between the learners that hold it.

Taught in notebook 08.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..protocol.checks import check_choice, check_int, check_number

MAX_TRIES = 1000


def _cuts(n_members: np.ndarray | int, shares: np.ndarray) -> np.ndarray:
    """Where class members are cut between the parts: cumulative ``shares`` (last axis) of ``n_members``."""
    fractions = np.cumsum(shares, axis=-1) / np.sum(shares, axis=-1, keepdims=True)
    return np.round(fractions * np.expand_dims(n_members, -1)).astype(int)


def _part_sizes(class_sizes: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """How many samples each part gets when class ``c`` (``class_sizes[c]``) is cut by ``shares[c]``."""
    return np.diff(_cuts(class_sizes, shares), axis=1, prepend=0).sum(axis=0)


def _share_out(labels: np.ndarray, classes: np.ndarray, shares: np.ndarray,
               rng: np.random.Generator) -> list[list[int]]:
    """Per part, its indices: class ``c``'s shuffled indices cut by ``shares[c]``."""
    parts: list[list[int]] = [[] for _ in range(shares.shape[1])]
    for label, row in zip(classes, shares, strict=True):
        members = rng.permutation(np.flatnonzero(labels == label))
        for part, piece in zip(parts, np.split(members, _cuts(len(members), row)[:-1]), strict=True):
            part.extend(piece.tolist())
    return parts


def dirichlet_shares(n_classes: int, n_parts: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """One draw: row ``c`` says which share of class ``c`` each part gets (rows sum to 1).

    >>> dirichlet_shares(3, 4, 0.5, np.random.default_rng(0)).sum(axis=1).round(6).tolist()
    [1.0, 1.0, 1.0]
    """
    return rng.dirichlet([alpha] * n_parts, size=n_classes)


def pathological_shares(n_classes: int, n_parts: int, n_classes_per_learner: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Part ``i`` holds classes ``order[(i * k + j) % n_classes]``, ``j < k``; a class splits evenly.

    >>> pathological_shares(4, 2, 2, np.random.default_rng(0)).astype(bool).sum(axis=0).tolist()
    [2, 2]
    """
    if n_parts * n_classes_per_learner < n_classes:
        raise ValueError(f"n_classes_per_learner: got {n_classes_per_learner} for {n_parts} learners; "
                         f"expected at least {-(-n_classes // n_parts)}, so that each of the {n_classes} "
                         "classes goes to some learner")
    order = rng.permutation(n_classes)
    held = np.zeros((n_classes, n_parts))
    for part in range(n_parts):
        for j in range(n_classes_per_learner):
            held[order[(part * n_classes_per_learner + j) % n_classes], part] = 1.0
    return held / held.sum(axis=1, keepdims=True)


def _check_sizes(label_sets: Sequence[np.ndarray], n_parts: int, min_size: int) -> None:
    for labels in label_sets:
        if len(labels) < n_parts * min_size:
            raise ValueError(f"min_size: got {min_size} for {n_parts} parts of {len(labels)} samples; "
                             f"expected at most {len(labels) // n_parts}")


def partition_labels(label_sets: Sequence[np.ndarray], n_parts: int, method: str = "dirichlet",
                     alpha: float = 0.5, seed: int = 0, min_size: int = 10, n_classes_per_learner: int = 2,
                     max_tries: int = MAX_TRIES) -> list[list[list[int]]]:
    """For each array in ``label_sets``, ``n_parts`` lists of indices; one draw of shares for all arrays.

    >>> train, held_out = np.arange(100) % 10, np.arange(50) % 10
    >>> parts = partition_labels([train, held_out], 4, alpha=0.1, min_size=5)
    >>> [min(len(p) for p in split) >= 5 for split in parts]
    [True, True]
    """
    check_choice("method", method, ("dirichlet", "pathological"))
    check_int("n_parts", n_parts, minimum=1)
    check_int("min_size", min_size, minimum=0)
    check_int("max_tries", max_tries, minimum=1)
    check_number("alpha", alpha, 0, low_open=True, hint=" (e.g. 0.1 skewed, 100 nearly iid)")
    check_int("n_classes_per_learner", n_classes_per_learner, minimum=1)
    _check_sizes(label_sets, n_parts, min_size)
    arrays = [np.asarray(labels) for labels in label_sets]
    classes = np.unique(np.concatenate(arrays))
    class_sizes = [np.array([np.sum(labels == c) for c in classes]) for labels in arrays]
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        shares = (dirichlet_shares(len(classes), n_parts, alpha, rng) if method == "dirichlet"
                  else pathological_shares(len(classes), n_parts, n_classes_per_learner, rng))
        if all(_part_sizes(sizes, shares).min() >= min_size for sizes in class_sizes):
            return [_share_out(labels, classes, shares, rng) for labels in arrays]
    raise ValueError(f"min_size: no {method} split of {n_parts} parts (alpha={alpha:g}) gave every part at "
                     f"least {min_size} samples in {max_tries} draws; expected a smaller min_size, fewer "
                     "parts or a larger alpha")
