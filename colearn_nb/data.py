"""Splitting data between learners and fast loaders over tensors."""
from __future__ import annotations

import math
from typing import Iterator, List, NamedTuple, Sequence, Sized, Tuple

import torch
from torch.utils.data import Dataset, Subset, TensorDataset


def prepare_data_split_list(data: Sized, n: int) -> List[int]:
    """Sizes of ``n`` equal parts of ``data``, the remainder going to the last part.

    >>> prepare_data_split_list(range(10), 3)
    [3, 3, 4]
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: got {n!r}; expected an integer >= 1")
    if n > len(data):
        raise ValueError(f"n: got {n} parts for only {len(data)} samples; use at most {len(data)} parts")
    sizes = [len(data) // n] * n
    sizes[-1] += len(data) - sum(sizes)
    return sizes


def split_dataset(dataset: Dataset, n_parts: int, seed: int = 0) -> List[Subset]:
    """Shuffle ``dataset`` with ``seed`` and cut it into ``n_parts``; every sample lands in exactly one part.

    >>> [len(part) for part in split_dataset(TensorDataset(torch.arange(10)), 3)]
    [3, 3, 4]
    """
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    parts, start = [], 0
    for size in prepare_data_split_list(dataset, n_parts):
        parts.append(Subset(dataset, order[start:start + size]))
        start += size
    return parts


def dataset_tensors(dataset: Dataset) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``(inputs, labels)`` tensors of a dataset, read without per-sample calls where possible."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[0], dataset.tensors[1]
    if isinstance(dataset, Subset):
        inputs, labels = dataset_tensors(dataset.dataset)
        index = torch.as_tensor(dataset.indices, dtype=torch.long)
        return inputs[index], labels[index]
    samples = [dataset[i] for i in range(len(dataset))]
    return torch.stack([torch.as_tensor(x) for x, _ in samples]), torch.as_tensor([y for _, y in samples])


class TensorLoader:
    """Batches of ``(inputs, labels)`` sliced from tensors: a fast stand-in for a ``DataLoader``.

    >>> loader = TensorLoader(torch.zeros(10, 2), torch.arange(10), batch_size=4)
    >>> len(loader), [len(y) for _, y in loader]
    (3, [4, 4, 2])
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 64, shuffle: bool = False,
                 seed: int | None = None):
        if len(inputs) != len(labels):
            raise ValueError(f"inputs and labels: got {len(inputs)} inputs but {len(labels)} labels; "
                             "they must have the same length")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: got {batch_size!r}; expected an integer >= 1")
        self.inputs, self.labels, self.batch_size, self.shuffle = inputs, labels, batch_size, shuffle
        if seed is None:  # drawn from torch's global generator, so seed_everything makes runs repeatable
            seed = int(torch.randint(0, 2**62, ()).item()) if shuffle else 0
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __repr__(self) -> str:
        return f"TensorLoader({len(self.labels)} samples, batch_size={self.batch_size}, shuffle={self.shuffle})"

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if not self.shuffle:
            for start in range(0, n, self.batch_size):
                yield self.inputs[start:start + self.batch_size], self.labels[start:start + self.batch_size]
            return
        order = torch.randperm(n, generator=self.generator)
        for start in range(0, n, self.batch_size):
            batch = order[start:start + self.batch_size]
            yield self.inputs[batch], self.labels[batch]


class LearnerLoaders(NamedTuple):
    """One learner's private data: train, vote and test loaders."""

    train: TensorLoader
    vote: TensorLoader
    test: TensorLoader


def learner_loaders(train_data: Dataset, test_data: Dataset, n_learners: int, batch_size: int = 64,
                    vote_fraction: float = 0.5, seed: int = 0) -> List[LearnerLoaders]:
    """Every learner's loaders: a part of ``train_data`` to train on, a part of ``test_data`` cut into vote and test.

    >>> x, y = torch.zeros(100, 3), torch.arange(100) % 2
    >>> parts = learner_loaders(TensorDataset(x, y), TensorDataset(x[:40], y[:40]), n_learners=2, batch_size=8)
    >>> [(len(p.train.labels), len(p.vote.labels), len(p.test.labels)) for p in parts]
    [(50, 10, 10), (50, 10, 10)]
    """
    if not isinstance(n_learners, int) or n_learners < 2:
        raise ValueError(f"n_learners: got {n_learners!r}; collective learning needs at least 2 learners")
    if not 0 < vote_fraction < 1:
        raise ValueError(f"vote_fraction: got {vote_fraction!r}; expected a number strictly between 0 and 1")
    train_parts = split_dataset(train_data, n_learners, seed)
    held_out_parts = split_dataset(test_data, n_learners, seed + 1)
    loaders = []
    for i, (train_part, held_out) in enumerate(zip(train_parts, held_out_parts)):
        inputs, labels = dataset_tensors(held_out)
        n_vote = round(len(labels) * vote_fraction)
        if n_vote == 0 or n_vote == len(labels):
            raise ValueError(f"test_data: learner {i} gets {len(labels)} held-out samples, too few to cut into "
                             "vote and test sets; give more test data or fewer learners")
        loaders.append(LearnerLoaders(
            train=TensorLoader(*dataset_tensors(train_part), batch_size=batch_size, shuffle=True, seed=seed + 10 + i),
            vote=TensorLoader(inputs[:n_vote], labels[:n_vote], batch_size=batch_size),
            test=TensorLoader(inputs[n_vote:], labels[n_vote:], batch_size=batch_size)))
    return loaders
