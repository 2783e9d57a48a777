"""Who gains from sharing: voting, FedAvg and FedProx on the same split, each learner against itself alone.

``compare_gains`` runs the three approaches and each learner alone on the same data, from the same starting
weights, with the same training per learner (below); ``learner_gains`` scores every learner's models on its
own test data. The results are plain data: ``LearnerGains``, one list of scores per approach.

The budget, in training batches: voting runs ``n_rounds`` rounds, one proposer training
``num_train_batches`` per round; FedAvg and FedProx (Flower's strategies, run in this process) run
``n_rounds / n_learners`` rounds in which every learner trains ``num_train_batches``; alone, each learner
trains ``n_rounds / n_learners`` times ``num_train_batches`` on its own data. So every approach trains the
same batches in all, and each learner trains the same number of batches in each.

Taught in notebook 15.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

from ..flower.aggregation import run_federated
from ..protocol.checks import check_int, check_n_learners, check_number, check_vote_threshold
from ..protocol.loop import run_rounds
from ..protocol.results import Results, mean
from ..pytorch.learner import PytorchLearner
from ..pytorch.seeding import seed_everything
from ..pytorch.splitting import LearnerLoaders
from .comparison import MakeLearner, Setup, _checked_learner

APPROACHES = ("voting", "FedAvg", "FedProx")


@dataclass
class LearnerGains:
    """Per approach, each learner's test score of the shared model; ``alone``: of its own model alone.

    >>> gains = LearnerGains(shared={"voting": [0.9, 0.5]}, alone=[0.7, 0.8])
    >>> [round(g, 2) for g in gains.gains()["voting"]], gains.mean_score("voting")
    ([0.2, -0.3], 0.7)
    """

    shared: dict[str, list[float]]
    alone: list[float]
    n_rounds: int | None = None  # voting's rounds (compare_gains sets them)
    num_train_batches: int | None = None  # per proposal, federated round or turn alone
    n_accepted: int | None = None  # voting's accepted proposals

    def training_batches(self) -> int | None:
        """The training batches of each approach, all learners together (None when not recorded)."""
        if self.n_rounds is None or self.num_train_batches is None:
            return None
        return self.n_rounds * self.num_train_batches

    def gains(self) -> dict[str, list[float]]:
        """Per approach, each learner's shared-model score minus its score alone (above 0: it gains)."""
        return {name: [s - a for s, a in zip(scores, self.alone, strict=True)]
                for name, scores in self.shared.items()}

    def mean_score(self, approach: str) -> float:
        """The mean over learners of ``approach``'s scores (``"alone"``: of the models trained alone)."""
        return mean(self.alone if approach == "alone" else self.shared[approach])

    def n_gaining(self, approach: str) -> int:
        """How many learners score higher with ``approach``'s shared model than alone."""
        return sum(gain > 0 for gain in self.gains()[approach])

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def _own_test_score(learner: PytorchLearner) -> float:
    """The learner's score of its current model on its own test loader (its ``vote_criterion``, or loss)."""
    if learner.test_loader is None:
        raise ValueError("learners: a learner has no test_loader; give every learner test data to score on")
    return learner.test(learner.test_loader, "test_loader")


def learner_gains(shared: Mapping[str, Sequence[PytorchLearner]],
                  alone: Sequence[PytorchLearner]) -> LearnerGains:
    """Score learner ``i`` of every approach and of ``alone`` on learner ``i``'s own test loader.

    ``shared`` maps an approach's name to its learners, in the same order as ``alone``: the same people,
    holding the shared model after that approach ran; ``alone`` holds each one's model trained alone.

    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from colearn_nb.pytorch.metrics import categorical_accuracy
    >>> data = DataLoader(TensorDataset(torch.eye(2), torch.tensor([0, 1])), batch_size=2)
    >>> def learner(bias):
    ...     model = torch.nn.Linear(2, 2)
    ...     torch.nn.init.zeros_(model.weight)
    ...     model.bias.data = torch.tensor(bias)
    ...     return PytorchLearner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
    ...                           train_loader=data, vote_loader=data, test_loader=data,
    ...                           criterion=torch.nn.CrossEntropyLoss(), vote_criterion=categorical_accuracy,
    ...                           minimise_criterion=False)
    >>> learner_gains({"voting": [learner([1.0, 0.0])]}, [learner([0.0, 1.0])]).gains()
    {'voting': [0.0]}
    """
    for name, learners in shared.items():
        if len(learners) != len(alone):
            raise ValueError(f"shared: {name!r} has {len(learners)} learners and alone {len(alone)}; "
                             "expected the same learners, in the same order")
    return LearnerGains(shared={name: [_own_test_score(learner) for learner in learners]
                                for name, learners in shared.items()},
                        alone=[_own_test_score(learner) for learner in alone])


def _train_alone(learners: Sequence[PytorchLearner], n_proposals: int) -> None:
    """Each learner trains ``n_proposals`` proposals' worth on its own data and keeps every one."""
    for learner in learners:
        for _ in range(n_proposals):
            learner.mli_accept_weights(learner.mli_propose_weights())


def _check_budget(loaders: Sequence[LearnerLoaders], n_rounds: int, num_train_batches: int,
                  proximal_mu: float, vote_threshold: float) -> int:
    """Refuse a budget that cannot be shared out evenly; returns the federated rounds."""
    check_n_learners(loaders)
    check_int("n_rounds", n_rounds, minimum=len(loaders))
    check_int("num_train_batches", num_train_batches, minimum=1)
    check_number("proximal_mu", proximal_mu, 0, low_open=True, hint=" (FedProx's; e.g. 0.1)")
    check_vote_threshold(vote_threshold)
    if n_rounds % len(loaders):
        raise ValueError(f"n_rounds: got {n_rounds} for {len(loaders)} learners; expected a multiple of "
                         f"{len(loaders)}, so that every learner trains as often in every approach")
    return n_rounds // len(loaders)


def _fresh(setup: Setup, shuffling: list) -> list[PytorchLearner]:
    """The setup's learners with their test loaders, after the same seed and the same shuffles as before."""
    for part, state in zip(setup.loaders, shuffling, strict=True):
        if state is not None:
            part.train.generator.set_state(state)
    learners = setup.learners()
    for learner, part in zip(learners, setup.loaders, strict=True):
        learner.test_loader = part.test
    return learners


def compare_gains(loaders: Sequence[LearnerLoaders], make_learner: MakeLearner, n_rounds: int,
                  num_train_batches: int, seed: int = 0, proximal_mu: float = 0.1,
                  vote_threshold: float = 0.5) -> LearnerGains:
    """Voting, FedAvg, FedProx and each learner alone on ``loaders``: same start, same training per learner.

    Every learner comes from ``make_learner(train_loader, vote_loader)`` (``tutorial_learner`` or your
    own) and starts from the first one's weights. Voting runs ``n_rounds`` rounds at ``vote_threshold``;
    FedAvg and FedProx (with ``proximal_mu``) run ``n_rounds / n_learners`` rounds in which every learner
    trains; alone, each learner trains as often as it proposes when voting. ``num_train_batches`` per
    proposal or round, for every approach.

    >>> from colearn_nb.tutorial.comparison import tutorial_learner
    >>> from colearn_nb.tutorial.mnist import load_mnist
    >>> from colearn_nb.pytorch.splitting import learner_loaders
    >>> loaders = learner_loaders(*load_mnist(), n_learners=2, seed=0)
    >>> gains = compare_gains(loaders, tutorial_learner(), n_rounds=2, num_train_batches=1)
    >>> sorted(gains.shared), len(gains.alone)
    (['FedAvg', 'FedProx', 'voting'], 2)
    """
    n_federated = _check_budget(loaders, n_rounds, num_train_batches, proximal_mu, vote_threshold)
    seed_everything(seed)
    train, vote = loaders[0].train, loaders[0].vote
    first = _checked_learner(make_learner(train, vote), train, vote)  # its weights: everyone's start
    setup = Setup(loaders, make_learner, first.mli_get_current_weights(), num_train_batches)
    generators = [getattr(part.train, "generator", None) for part in loaders]  # the kit's loaders shuffle
    shuffling = [None if g is None else g.get_state() for g in generators]  # by their own generator
    runs: dict[str, Callable[[list[PytorchLearner]], Results | None]] = {
        "voting": lambda learners: run_rounds(learners, n_rounds, vote_threshold),
        "FedAvg": lambda learners: run_federated(learners, n_federated, "fedavg"),
        "FedProx": lambda learners: run_federated(learners, n_federated, "fedprox", proximal_mu=proximal_mu),
        "alone": lambda learners: _train_alone(learners, n_federated)}
    held, results = {}, {}
    for name, run in runs.items():
        seed_everything(seed)
        held[name] = _fresh(setup, shuffling)
        results[name] = run(held[name])
    alone = held.pop("alone")
    gains = learner_gains(held, alone)
    voting = results["voting"]
    gains.n_rounds, gains.num_train_batches = n_rounds, num_train_batches
    gains.n_accepted = voting.n_accepted if voting is not None else None
    return gains
