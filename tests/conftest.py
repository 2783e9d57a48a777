"""Shared fixtures: small synthetic learners and an offline, headless setup."""
import os
import sys
from pathlib import Path

import matplotlib
import pytest
import torch

collect_ignore = ["seed_tutorial"]  # code written for colearn; test_seed_tutorial.py ports and runs it
matplotlib.use("Agg")
os.environ.setdefault("COLEARN_NB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from colearn_nb import PytorchLearner, TensorLoader, categorical_accuracy  # noqa: E402


class CountingLoader:
    """Wraps a loader and counts the batches actually fetched from it."""

    def __init__(self, loader):
        self.loader, self.fetched = loader, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.fetched += 1
            yield batch


def synthetic_data(n=96, n_features=4, n_classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, n_features, generator=generator)
    labels = (inputs[:, 0] > 0).long() + (inputs[:, 1] > 1).long()
    return inputs, labels.clamp(max=n_classes - 1)


def make_learner(seed=0, maximise=False, model=None, shuffle=False, **kwargs):
    inputs, labels = synthetic_data(seed=seed)
    model = model or torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    options = dict(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=0.05),
                   train_loader=TensorLoader(inputs[:64], labels[:64], batch_size=16, shuffle=shuffle),
                   vote_loader=TensorLoader(inputs[64:80], labels[64:80], batch_size=8),
                   test_loader=TensorLoader(inputs[80:], labels[80:], batch_size=8),
                   criterion=torch.nn.CrossEntropyLoss())
    if maximise:
        options.update(vote_criterion=categorical_accuracy, minimise_criterion=False)
    options.update(kwargs)
    return PytorchLearner(**options)


@pytest.fixture
def learner():
    torch.manual_seed(0)
    return make_learner()
