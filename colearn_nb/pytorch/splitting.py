"""Splitting data between learners (equal, Dirichlet or shard parts) and every learner's loaders."""
from __future__ import annotations

from collections.abc import Sequence, Sized
from typing import NamedTuple, cast

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset  # noqa: F401 (the doctests use TensorDataset)

from ..protocol.checks import check_choice, check_int, check_number
from .loaders import TensorLoader, dataset_tensors
from .partitions import partition_labels

METHODS = ("iid", "dirichlet", "pathological", "shards")


def prepare_data_split_list(data: Sized, n: int) -> list[int]:
    """Sizes of ``n`` equal parts of ``data``, the remainder going to the last part.

    >>> prepare_data_split_list(range(10), 3)
    [3, 3, 4]
    """
    check_int("n", n, minimum=1)
    if n > len(data):
        raise ValueError(f"n: got {n} parts for only {len(data)} samples; use at most {len(data)} parts")
    sizes = [len(data) // n] * n
    sizes[-1] += len(data) - sum(sizes)
    return sizes


def split_dataset(dataset: Dataset, n_parts: int, seed: int = 0, method: str = "iid",
                  alpha: float = 0.5, min_size: int = 10, n_classes_per_learner: int = 2) -> list[Subset]:
    """Cut ``dataset`` into ``n_parts``; every sample lands in exactly one part.

    ``method="iid"``: shuffled, equal parts (remainder to the last). ``"dirichlet"``: each
    label's samples shared out by proportions drawn from Dirichlet(``alpha``): small alpha, strong
    label skew; drawn again until every part has ``min_size`` samples (see ``partition_labels``).
    ``"pathological"``: every part holds ``n_classes_per_learner`` labels. ``"shards"``: samples sorted
    by label, cut into ``2 * n_parts`` shards, two per part.

    >>> [len(part) for part in split_dataset(TensorDataset(torch.arange(10)), 3)]
    [3, 3, 4]
    """
    generator = torch.Generator().manual_seed(seed)
    sized = cast(Sized, dataset)  # a map-style dataset has a length; torch's Dataset does not declare __len__
    if method == "iid":
        order = torch.randperm(len(sized), generator=generator).tolist()
        sizes = prepare_data_split_list(sized, n_parts)
        return [Subset(dataset, order[sum(sizes[:i]):sum(sizes[:i + 1])]) for i in range(n_parts)]
    check_choice("method", method, METHODS)
    prepare_data_split_list(sized, n_parts)  # refuses more parts than samples
    labels = dataset_tensors(dataset)[1]
    if method == "shards":
        parts = _shard_indices(labels, n_parts, generator)
    else:
        parts = partition_labels([labels.numpy()], n_parts, method, alpha, seed, min_size,
                                 n_classes_per_learner)[0]
    return _shuffled_subsets(dataset, parts, generator)


def _shuffled_subsets(dataset: Dataset, parts: list[list[int]], generator: torch.Generator) -> list[Subset]:
    return [Subset(dataset, [part[i] for i in torch.randperm(len(part), generator=generator).tolist()])
            for part in parts]


def _shard_indices(labels: torch.Tensor, n_parts: int, generator: torch.Generator) -> list[list[int]]:
    order = torch.argsort(labels, stable=True)
    shards = torch.tensor_split(order, 2 * n_parts)
    shard_order = torch.randperm(2 * n_parts, generator=generator).tolist()
    return [torch.cat([shards[shard_order[2 * i]], shards[shard_order[2 * i + 1]]]).tolist()
            for i in range(n_parts)]


def _uneven_parts(train_data: Dataset, test_data: Dataset, n_learners: int, seed: int, method: str,
                  alpha: float, min_size: int,
                  n_classes_per_learner: int) -> tuple[list[Subset], list[Subset]]:
    """Train and held-out parts with one label mix per learner (one draw of shares for both)."""
    if method == "shards":
        return (split_dataset(train_data, n_learners, seed, method),
                split_dataset(test_data, n_learners, seed, method))
    check_choice("method", method, METHODS)
    labels = [dataset_tensors(data)[1].numpy() for data in (train_data, test_data)]
    train_parts, held_out_parts = partition_labels(labels, n_learners, method, alpha, seed, min_size,
                                                   n_classes_per_learner)
    generator = torch.Generator().manual_seed(seed)
    return (_shuffled_subsets(train_data, train_parts, generator),
            _shuffled_subsets(test_data, held_out_parts, generator))


class LearnerLoaders(NamedTuple):
    """One learner's private data: train, vote and test loaders."""

    train: TensorLoader
    vote: TensorLoader
    test: TensorLoader

    def __repr__(self) -> str:
        """One loader a line, so that a printed learner's data never wraps mid-word."""
        return f"LearnerLoaders(\n  train={self.train!r},\n  vote={self.vote!r},\n  test={self.test!r})"


def learner_loaders(train_data: Dataset, test_data: Dataset, n_learners: int, batch_size: int = 64,
                    vote_fraction: float = 0.5, seed: int = 0, method: str = "iid",
                    alpha: float = 0.5, min_size: int = 10,
                    n_classes_per_learner: int = 2) -> list[LearnerLoaders]:
    """Every learner's loaders: a part of ``train_data`` to train on, of ``test_data`` to vote and test on.

    ``method``, ``alpha``, ``min_size`` and ``n_classes_per_learner`` as in ``split_dataset``; with
    uneven splits a learner's vote and test data follow the same label mix as its training data, and
    every learner gets at least ``min_size`` training and ``min_size`` held-out samples.

    >>> x, y = torch.zeros(100, 3), torch.arange(100) % 2
    >>> parts = learner_loaders(TensorDataset(x, y), TensorDataset(x[:40], y[:40]), n_learners=2,
    ...                         batch_size=8)
    >>> [(len(p.train.labels), len(p.vote.labels), len(p.test.labels)) for p in parts]
    [(50, 10, 10), (50, 10, 10)]
    """
    check_int("n_learners", n_learners, minimum=2, hint=": collective learning needs at least 2 learners")
    check_number("vote_fraction", vote_fraction, 0, 1, low_open=True, high_open=True)
    if method == "iid":
        train_parts, held_out_parts = (split_dataset(train_data, n_learners, seed),
                                       split_dataset(test_data, n_learners, seed + 1))
    else:
        train_parts, held_out_parts = _uneven_parts(train_data, test_data, n_learners, seed, method, alpha,
                                                    min_size, n_classes_per_learner)
    loaders = []
    for i, (train_part, held_out) in enumerate(zip(train_parts, held_out_parts, strict=True)):
        inputs, labels = dataset_tensors(held_out)
        n_vote = round(len(labels) * vote_fraction)
        if n_vote == 0 or n_vote == len(labels):
            raise ValueError(f"test_data: learner {i} gets {len(labels)} held-out samples, "
                             "too few to cut into vote and test sets; give more test data or fewer learners")
        loaders.append(LearnerLoaders(
            train=TensorLoader(*dataset_tensors(train_part), batch_size=batch_size, shuffle=True,
                               seed=seed + 10 + i),
            vote=TensorLoader(inputs[:n_vote], labels[:n_vote], batch_size=batch_size),
            test=TensorLoader(inputs[n_vote:], labels[n_vote:], batch_size=batch_size)))
    return loaders


def split_sizes(loaders: Sequence[LearnerLoaders]) -> list[dict[str, int]]:
    """One row per learner: the number of train, vote and test samples.

    >>> part = LearnerLoaders(*(TensorLoader(torch.zeros(n, 1), torch.zeros(n)) for n in (8, 3, 2)))
    >>> split_sizes([part])
    [{'learner': 0, 'train': 8, 'vote': 3, 'test': 2}]
    """
    return [{"learner": i, "train": len(p.train.labels), "vote": len(p.vote.labels),
             "test": len(p.test.labels)}
            for i, p in enumerate(loaders)]


def format_split_table(loaders: Sequence[LearnerLoaders]) -> str:
    """The sizes of every learner's data as a text table, with a total row."""
    rows = split_sizes(loaders)
    lines = [f"{'learner':>7}  {'train':>6}  {'vote':>6}  {'test':>6}"]
    lines += [f"{r['learner']:>7}  {r['train']:>6}  {r['vote']:>6}  {r['test']:>6}" for r in rows]
    totals = {k: sum(r[k] for r in rows) for k in ("train", "vote", "test")}
    lines.append(f"{'total':>7}  {totals['train']:>6}  {totals['vote']:>6}  {totals['test']:>6}")
    return "\n".join(lines)


def label_counts(labels: torch.Tensor, n_classes: int = 10) -> np.ndarray:
    """How many times each class appears in ``labels``.

    >>> label_counts(torch.tensor([0, 2, 2]), n_classes=3).tolist()
    [1, 0, 2]
    """
    check_int("n_classes", n_classes, minimum=1)
    return np.bincount(labels.cpu().numpy().astype(np.int64), minlength=n_classes)[:n_classes]


def label_mix(loaders: Sequence[LearnerLoaders], n_classes: int = 10, part: str = "train") -> np.ndarray:
    """Counts per learner (rows) and class (columns) of every learner's ``part`` data.

    >>> part = LearnerLoaders(*(TensorLoader(torch.zeros(3, 1), torch.tensor([0, 2, 2])) for _ in range(3)))
    >>> label_mix([part, part], n_classes=3).tolist()
    [[1, 0, 2], [1, 0, 2]]
    """
    check_choice("part", part, LearnerLoaders._fields)
    return np.stack([label_counts(getattr(loaders_i, part).labels, n_classes) for loaders_i in loaders])
