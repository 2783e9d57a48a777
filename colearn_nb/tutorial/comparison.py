"""Collective learning against the alternatives, on the same splits with the same training budget.

Four ways to use the same learners' data, all starting from the same weights, all with the same
optimizer settings and the same number of training batches per round:

- ``collective``: collective learning (one proposer trains per round, everyone votes);
- ``alone``: each learner trains on its own data only, when its turn comes (no sharing);
- ``pooled``: one model trained on all the learners' data put together (no privacy);
- ``federated averaging``: every ``n_learners`` rounds, each learner trains from the shared
  model and the shared model becomes the average of theirs, weighted by training samples.

Every approach is scored the same way: each learner's model on that learner's test data, averaged.

Taught in notebook 11.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from ..protocol.checks import check_batches, check_n_learners, check_n_rounds, check_vote_threshold
from ..protocol.interface import Weights
from ..protocol.loop import run_rounds
from ..protocol.results import Results
from ..pytorch.learner import PytorchLearner
from ..pytorch.loaders import TensorLoader
from ..pytorch.metrics import categorical_accuracy
from ..pytorch.seeding import seed_everything
from ..pytorch.splitting import LearnerLoaders
from .baseline import evaluate_accuracy
from .net import TutorialNet

APPROACHES = ("collective", "alone", "pooled", "federated averaging")
Curve = tuple[list[int], list[float]]


@dataclass
class Comparison:
    """Per approach: training batches so far (all learners together) and mean test accuracy, per point."""

    training_batches: dict[str, list[int]] = field(default_factory=dict)
    mean_test_accuracy: dict[str, list[float]] = field(default_factory=dict)
    n_accepted: int = 0
    n_rounds: int = 0

    def __repr__(self) -> str:
        finals = ", ".join(f"{name} {scores[-1]:.3f}" for name, scores in self.mean_test_accuracy.items())
        return f"Comparison({self.n_rounds} rounds; final mean test accuracy: {finals})"

    def final(self) -> dict[str, float]:
        """The last mean test accuracy of every approach."""
        return {name: scores[-1] for name, scores in self.mean_test_accuracy.items()}

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


@dataclass
class Setup:
    """What every approach shares: the data, the starting weights and how to build a learner."""

    loaders: Sequence[LearnerLoaders]
    make_model: Callable[[], torch.nn.Module]
    initial_weights: dict[str, torch.Tensor]
    learning_rate: float
    num_train_batches: int | None

    def learner(self, train_loader, vote_loader) -> PytorchLearner:
        """A learner with the shared starting weights and settings."""
        model = self.make_model()
        model.load_state_dict(self.initial_weights)
        return PytorchLearner(model=model,
                              optimizer=torch.optim.Adam(model.parameters(), lr=self.learning_rate),
                              train_loader=train_loader, vote_loader=vote_loader,
                              criterion=torch.nn.NLLLoss(), vote_criterion=categorical_accuracy,
                              minimise_criterion=False,
                              num_train_batches=self.num_train_batches)

    def learners(self) -> list[PytorchLearner]:
        """One learner per part of the data."""
        return [self.learner(part.train, part.vote) for part in self.loaders]

    def batches_per_proposal(self, learner_index: int) -> int:
        """How many batches learner ``learner_index`` trains on per proposal."""
        n_batches = len(self.loaders[learner_index].train)
        return min(n_batches, self.num_train_batches or n_batches)

    def mean_test_accuracy(self, models: Sequence[torch.nn.Module]) -> float:
        """Each learner's model on that learner's test data, averaged (one pass when all models are equal)."""
        if all(_same_weights(models[0], model) for model in models[1:]):
            return _mean_accuracy_of_one_model(models[0], [part.test for part in self.loaders])
        return (sum(evaluate_accuracy(m, part.test) for m, part in zip(models, self.loaders, strict=True))
                / len(self.loaders))


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return a is b or all(torch.equal(x, y)
                         for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@torch.no_grad()
def _mean_accuracy_of_one_model(model: torch.nn.Module, test_loaders: Sequence[TensorLoader]) -> float:
    """The mean over loaders of ``model``'s accuracy on each, from one forward pass over all of them."""
    model.eval()
    inputs, labels = torch.cat([t.inputs for t in test_loaders]), torch.cat([t.labels for t in test_loaders])
    correct = model(inputs).argmax(dim=1) == labels
    per_loader = torch.split(correct.float(), [len(t.labels) for t in test_loaders])
    return sum(part.mean().item() for part in per_loader) / len(test_loaders)


def _pooled_loader(loaders: Sequence[LearnerLoaders], seed: int) -> TensorLoader:
    train = [part.train for part in loaders]
    return TensorLoader(torch.cat([t.inputs for t in train]), torch.cat([t.labels for t in train]),
                        batch_size=train[0].batch_size, shuffle=True, seed=seed)


def _batches(weights: Weights) -> int:
    return weights.training_summary["n_train_batches"]


def _run_collective(setup: Setup, n_rounds: int, vote_threshold: float, comparison: Comparison) -> Curve:
    learners = setup.learners()
    batches, scores = [0], [setup.mean_test_accuracy([learner.model for learner in learners])]

    def record(results: Results) -> None:
        batches.append(batches[-1] + results.data[-1].training_summaries[0]["n_train_batches"])
        scores.append(setup.mean_test_accuracy([learner.model for learner in learners]))

    comparison.n_accepted = run_rounds(learners, n_rounds, vote_threshold, on_round=record).n_accepted
    return batches, scores


def _run_alone(setup: Setup, n_rounds: int) -> Curve:
    learners = setup.learners()
    batches, scores = [0], [setup.mean_test_accuracy([learner.model for learner in learners])]
    for round_index in range(n_rounds):
        learner = learners[round_index % len(learners)]
        proposal = learner.mli_propose_weights()
        learner.mli_accept_weights(proposal)
        batches.append(batches[-1] + _batches(proposal))
        scores.append(setup.mean_test_accuracy([each.model for each in learners]))
    return batches, scores


def _run_pooled(setup: Setup, n_rounds: int, seed: int) -> Curve:
    """One model on everyone's data; each round it trains as many batches as that round's proposer would."""
    learner = setup.learner(_pooled_loader(setup.loaders, seed), setup.loaders[0].vote)
    batches, scores = [0], [setup.mean_test_accuracy([learner.model] * len(setup.loaders))]
    for round_index in range(n_rounds):
        learner.num_train_batches = setup.batches_per_proposal(round_index % len(setup.loaders))
        proposal = learner.mli_propose_weights()
        learner.mli_accept_weights(proposal)
        batches.append(batches[-1] + _batches(proposal))
        scores.append(setup.mean_test_accuracy([learner.model] * len(setup.loaders)))
    return batches, scores


def _average(states: Sequence[dict[str, torch.Tensor]], sizes: Sequence[int]) -> dict[str, torch.Tensor]:
    total = sum(sizes)
    return {key: sum(state[key] * (size / total) for state, size in zip(states, sizes, strict=True))
            .to(states[0][key].dtype) for key in states[0]}


def _run_federated(setup: Setup, n_fed_rounds: int) -> Curve:
    """Every learner trains from the shared model; the shared model becomes their weighted average."""
    learners = setup.learners()
    sizes = [len(part.train.labels) for part in setup.loaders]
    batches, scores = [0], [setup.mean_test_accuracy([learner.model for learner in learners])]
    for _ in range(n_fed_rounds):
        proposals = [learner.mli_propose_weights() for learner in learners]
        average = Weights(weights=_average([p.weights for p in proposals], sizes))
        for learner in learners:
            learner.mli_accept_weights(average)
        batches.append(batches[-1] + sum(_batches(p) for p in proposals))
        scores.append(setup.mean_test_accuracy([learner.model for learner in learners]))
    return batches, scores


def compare_fairly(loaders: Sequence[LearnerLoaders], n_rounds: int = 20, vote_threshold: float = 0.5,
                   learning_rate: float = 1e-3, num_train_batches: int | None = None,
                   make_model: Callable[[], torch.nn.Module] = TutorialNet, seed: int = 0) -> Comparison:
    """Run all four approaches on ``loaders`` from the same start with the same training budget.

    Collective learning, each learner alone and the pooled model train one proposer's worth of
    batches per round; federated averaging runs one round per ``n_learners`` rounds, in which every
    learner trains. The x values are training batches done so far, all learners together.
    """
    check_n_learners(loaders)
    check_n_rounds(n_rounds, minimum=1)
    check_vote_threshold(vote_threshold)
    check_batches("num_train_batches", num_train_batches)
    seed_everything(seed)
    setup = Setup(loaders, make_model, make_model().state_dict(), learning_rate, num_train_batches)
    shuffling = [part.train.generator.get_state() for part in loaders]
    comparison = Comparison(n_rounds=n_rounds)
    runs = {"collective": lambda: _run_collective(setup, n_rounds, vote_threshold, comparison),
            "alone": lambda: _run_alone(setup, n_rounds),
            "pooled": lambda: _run_pooled(setup, n_rounds, seed),
            "federated averaging": lambda: _run_federated(setup, n_rounds // len(loaders))}
    for name, run in runs.items():
        for part, state in zip(loaders, shuffling, strict=True):  # every approach sees the same shuffles
            part.train.generator.set_state(state)
        seed_everything(seed)
        comparison.training_batches[name], comparison.mean_test_accuracy[name] = run()
    return comparison
