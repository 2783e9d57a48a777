"""The tutorial's learners: MNIST shared out between learners, each with a model, an optimizer, its data.

Notebook 04 builds these ``PytorchLearner``s by hand; ``make_mnist_learners`` is that cell with its
choices as arguments, so later notebooks change one argument instead of retyping the block.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from ..protocol.checks import check_int
from ..pytorch.learner import PytorchLearner
from ..pytorch.metrics import categorical_accuracy
from ..pytorch.privacy import DiffPrivConfig
from ..pytorch.splitting import learner_loaders
from .mnist import load_mnist
from .net import TutorialNet

MakeOptimizer = Callable[[torch.nn.Module], torch.optim.Optimizer]


def adam(learning_rate: float = 1e-3) -> MakeOptimizer:
    """A maker of Adam optimizers (the tutorial's) for ``make_mnist_learners(make_optimizer=...)``."""
    return lambda model: torch.optim.Adam(model.parameters(), lr=learning_rate)


def make_mnist_learners(n_learners: int = 5, batch_size: int = 64, learning_rate: float = 1e-3,
                        num_train_batches: int | None = None, num_test_batches: int | None = 2,
                        seed: int = 0, root: str | None = None, download: bool = False,
                        make_model: Callable[[], torch.nn.Module] = TutorialNet,
                        make_optimizer: MakeOptimizer | None = None, method: str = "iid", alpha: float = 0.5,
                        diff_priv_config: DiffPrivConfig | None = None,
                        only: int | None = None) -> list[PytorchLearner]:
    """``n_learners`` learners on disjoint MNIST parts, scored by categorical accuracy (higher is better).

    ``make_model()`` builds each learner's model (it must output log-probabilities: the loss is
    ``NLLLoss``) and ``make_optimizer(model)`` its optimizer (default: Adam with ``learning_rate``);
    ``method`` and ``alpha`` split the data as in ``split_dataset``; ``diff_priv_config`` trains with
    DP-SGD. The learners' weights differ until ``set_equal_weights`` (``run_rounds`` does it).
    ``only=k`` builds just learner ``k``, as ``[k]`` of the whole list, torch's random state after it
    included (a laptop of a class): the other models are made and dropped, as their weights draw from
    torch's generator; their checks and first scores, which draw nothing, are skipped (with DP-SGD, whose
    set-up draws, the others are built whole and dropped).

    >>> learners = make_mnist_learners(n_learners=2, num_train_batches=4)
    >>> len(learners), learners[0].minimise_criterion, learners[0].num_train_batches
    (2, False, 4)
    """
    if only is not None:
        check_int("only", only, 0, n_learners - 1)
    make_optimizer = make_optimizer or adam(learning_rate)
    train_data, test_data = load_mnist(root, download)
    parts = learner_loaders(train_data, test_data, n_learners, batch_size=batch_size, seed=seed,
                            method=method, alpha=alpha)
    learners, builds_every_one = [], only is None or diff_priv_config is not None  # DP-SGD's set-up draws
    for index, loaders in enumerate(parts):
        model = make_model()
        if index != only and not builds_every_one:
            continue
        learner = PytorchLearner(
            model=model, optimizer=make_optimizer(model),
            train_loader=loaders.train, vote_loader=loaders.vote, test_loader=loaders.test,
            criterion=torch.nn.NLLLoss(), vote_criterion=categorical_accuracy, minimise_criterion=False,
            num_train_batches=num_train_batches, num_test_batches=num_test_batches,
            diff_priv_config=diff_priv_config)
        if only is None or index == only:
            learners.append(learner)
    return learners
