"""The tutorial's learners: MNIST split between learners, each with the tutorial's Net and Adam."""
from __future__ import annotations

from typing import List, Optional

import torch

from .data import learner_loaders
from .datasets import load_mnist
from .metrics import categorical_accuracy
from .models import TutorialNet
from .pytorch_learner import PytorchLearner


def make_mnist_learners(n_learners: int = 5, batch_size: int = 64, learning_rate: float = 1e-3,
                        num_test_batches: Optional[int] = 2, seed: int = 0, root: Optional[str] = None,
                        download: bool = False) -> List[PytorchLearner]:
    """``n_learners`` learners on disjoint MNIST parts, scored by categorical accuracy (higher is better).

    >>> learners = make_mnist_learners(n_learners=2)
    >>> len(learners), learners[0].minimise_criterion
    (2, False)
    """
    train_data, test_data = load_mnist(root, download)
    learners = []
    for loaders in learner_loaders(train_data, test_data, n_learners, batch_size=batch_size, seed=seed):
        model = TutorialNet()
        learners.append(PytorchLearner(
            model=model, optimizer=torch.optim.Adam(model.parameters(), lr=learning_rate),
            train_loader=loaders.train, vote_loader=loaders.vote, test_loader=loaders.test,
            criterion=torch.nn.NLLLoss(), vote_criterion=categorical_accuracy, minimise_criterion=False,
            num_test_batches=num_test_batches))
    return learners
