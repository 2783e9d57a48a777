"""Fast loaders over tensors, and a dataset's tensors read without per-sample calls (notebooks 02 and 03)."""
from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import cast

import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from ..protocol.checks import check_int


def dataset_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``(inputs, labels)`` tensors of a dataset, read without per-sample calls where possible."""
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[0], dataset.tensors[1]
    if isinstance(dataset, Subset):
        inputs, labels = dataset_tensors(dataset.dataset)
        index = torch.as_tensor(dataset.indices, dtype=torch.long)
        return inputs[index], labels[index]
    # a map-style dataset has a length, though torch's Dataset does not declare __len__
    samples = [dataset[i] for i in range(len(cast(Sized, dataset)))]
    return torch.stack([torch.as_tensor(x) for x, _ in samples]), torch.as_tensor([y for _, y in samples])


class TensorLoader:
    """Batches of ``(inputs, labels)`` sliced from tensors: a fast stand-in for a ``DataLoader``.

    >>> loader = TensorLoader(torch.zeros(10, 2), torch.arange(10), batch_size=4)
    >>> len(loader), [len(y) for _, y in loader]
    (3, [4, 4, 2])
    """

    def __init__(self, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 64,
                 shuffle: bool = False, seed: int | None = None):
        if len(inputs) != len(labels):
            raise ValueError(f"inputs and labels: got {len(inputs)} inputs but {len(labels)} labels; "
                             "they must have the same length")
        check_int("batch_size", batch_size, minimum=1)
        self.inputs, self.labels, self.batch_size, self.shuffle = inputs, labels, batch_size, shuffle
        if seed is None:  # drawn from torch's global generator, so seed_everything makes runs repeatable
            seed = int(torch.randint(0, 2**62, ()).item()) if shuffle else 0
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __repr__(self) -> str:
        return (f"TensorLoader({len(self.labels)} samples, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle})")

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.labels)
        if not self.shuffle:
            for start in range(0, n, self.batch_size):
                yield self.inputs[start:start + self.batch_size], self.labels[start:start + self.batch_size]
            return
        order = torch.randperm(n, generator=self.generator)
        for start in range(0, n, self.batch_size):
            batch = order[start:start + self.batch_size]
            yield self.inputs[batch], self.labels[batch]
