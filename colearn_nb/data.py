"""Splitting data between learners and fast loaders over tensors."""
from __future__ import annotations

import math
from typing import Iterator, List, NamedTuple, Sized, Tuple

import numpy as np
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


def split_dataset(dataset: Dataset, n_parts: int, seed: int = 0, method: str = "iid",
                  alpha: float = 0.5) -> List[Subset]:
    """Cut ``dataset`` into ``n_parts``; every sample lands in exactly one part.

    ``method="iid"``: shuffled, equal parts (remainder to the last). ``"dirichlet"``: each
    label's samples shared out by proportions drawn from Dirichlet(``alpha``): small alpha, strong
    label skew. ``"shards"``: samples sorted by label, cut into ``2 * n_parts`` shards, two per part.

    >>> [len(part) for part in split_dataset(TensorDataset(torch.arange(10)), 3)]
    [3, 3, 4]
    """
    generator = torch.Generator().manual_seed(seed)
    if method == "iid":
        order = torch.randperm(len(dataset), generator=generator).tolist()
        sizes = prepare_data_split_list(dataset, n_parts)
        return [Subset(dataset, order[sum(sizes[:i]):sum(sizes[:i + 1])]) for i in range(n_parts)]
    if method not in ("dirichlet", "shards"):
        raise ValueError(f"method: got {method!r}; expected 'iid', 'dirichlet' or 'shards'")
    prepare_data_split_list(dataset, n_parts)  # refuses more parts than samples
    labels = dataset_tensors(dataset)[1]
    if method == "dirichlet" and not alpha > 0:
        raise ValueError(f"alpha: got {alpha!r}; expected a number > 0 (e.g. 0.1 skewed, 100 nearly iid)")
    parts = (_dirichlet_indices(labels, n_parts, alpha, seed) if method == "dirichlet"
             else _shard_indices(labels, n_parts, generator))
    return [Subset(dataset, [part[i] for i in torch.randperm(len(part), generator=generator).tolist()])
            for part in parts]


def _dirichlet_indices(labels: torch.Tensor, n_parts: int, alpha: float, seed: int) -> List[List[int]]:
    classes = labels.unique().tolist()
    proportions = np.random.default_rng(seed).dirichlet([alpha] * n_parts, size=len(classes))
    shuffle = np.random.default_rng(seed + 1)
    parts: List[List[int]] = [[] for _ in range(n_parts)]
    for label, shares in zip(classes, proportions):
        members = shuffle.permutation(torch.nonzero(labels == label).flatten().numpy())
        cuts = np.round(np.cumsum(shares) * len(members)).astype(int)
        for part, piece in zip(parts, np.split(members, cuts[:-1])):
            part.extend(piece.tolist())
    return parts


def _shard_indices(labels: torch.Tensor, n_parts: int, generator: torch.Generator) -> List[List[int]]:
    order = torch.argsort(labels, stable=True)
    shards = torch.tensor_split(order, 2 * n_parts)
    shard_order = torch.randperm(2 * n_parts, generator=generator).tolist()
    return [torch.cat([shards[shard_order[2 * i]], shards[shard_order[2 * i + 1]]]).tolist() for i in range(n_parts)]


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
                    vote_fraction: float = 0.5, seed: int = 0, method: str = "iid",
                    alpha: float = 0.5) -> List[LearnerLoaders]:
    """Every learner's loaders: a part of ``train_data`` to train on, a part of ``test_data`` cut into vote and test.

    ``method`` and ``alpha`` as in ``split_dataset``; with uneven splits a learner's vote and
    test data follow the same label mix as its training data.

    >>> x, y = torch.zeros(100, 3), torch.arange(100) % 2
    >>> parts = learner_loaders(TensorDataset(x, y), TensorDataset(x[:40], y[:40]), n_learners=2, batch_size=8)
    >>> [(len(p.train.labels), len(p.vote.labels), len(p.test.labels)) for p in parts]
    [(50, 10, 10), (50, 10, 10)]
    """
    if not isinstance(n_learners, int) or n_learners < 2:
        raise ValueError(f"n_learners: got {n_learners!r}; collective learning needs at least 2 learners")
    if not 0 < vote_fraction < 1:
        raise ValueError(f"vote_fraction: got {vote_fraction!r}; expected a number strictly between 0 and 1")
    train_parts = split_dataset(train_data, n_learners, seed, method, alpha)
    held_out_parts = split_dataset(test_data, n_learners, seed + 1 if method == "iid" else seed, method, alpha)
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
