"""Collective learning against the alternatives, on the same splits with the same training budget.

Four ways to use the same learners' data, all starting from the same weights, all with the same
optimizer settings and the same number of training batches per round:

- ``collective``: collective learning (one proposer trains per round, everyone votes);
- ``alone``: each learner trains on its own data only, when its turn comes (no sharing);
- ``pooled``: one model trained on all the learners' data put together (no privacy);
- ``federated averaging``: every ``n_learners`` rounds, each learner trains from the shared
  model and the shared model becomes the average of theirs, weighted by training samples: Flower's
  ``FedAvg`` strategy, run in this process (``colearn_nb.flower.run_federated``; needs ``flwr``).

Every approach is scored the same way: each learner's model on that learner's test data, averaged.

Every approach builds its learners with the same factory, ``make_learner(train_loader, vote_loader)``:
by default the tutorial's (``TutorialNet``, Adam, ``NLLLoss``, categorical accuracy), or your own
model, optimizer, loss and vote score in a ``PytorchLearner``.

Taught in notebook 11.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from ..flower.aggregation import run_federated
from ..protocol.checks import (
    check_batches,
    check_n_learners,
    check_n_rounds,
    check_number,
    check_vote_threshold,
)
from ..protocol.interface import Weights
from ..protocol.loop import run_rounds
from ..protocol.results import Results
from ..pytorch.batches import BatchReading
from ..pytorch.learner import PytorchLearner
from ..pytorch.loaders import TensorLoader
from ..pytorch.metrics import categorical_accuracy
from ..pytorch.seeding import seed_everything
from ..pytorch.splitting import LearnerLoaders
from .net import TutorialNet

APPROACHES = ("collective", "alone", "pooled", "federated averaging")
Curve = tuple[list[int], list[float]]
MakeLearner = Callable[[Iterable, Iterable], PytorchLearner]  # (train_loader, vote_loader) -> a learner
Metric = Callable[[torch.Tensor, torch.Tensor], float]  # (outputs, labels) -> a test score


@dataclass
class Comparison:
    """Per approach: training batches so far (all learners together) and mean test score, per point.

    ``mean_test_accuracy`` holds the mean test accuracy, or the mean of ``compare_fairly``'s ``metric``.
    """

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


def tutorial_learner(make_model: Callable[[], torch.nn.Module] = TutorialNet,
                     learning_rate: float = 1e-3) -> MakeLearner:
    """The default ``make_learner``: ``make_model()`` with Adam, ``NLLLoss`` and categorical accuracy."""
    def make_learner(train_loader: Iterable, vote_loader: Iterable) -> PytorchLearner:
        model = make_model()
        return PytorchLearner(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=learning_rate),
                              train_loader=train_loader, vote_loader=vote_loader,
                              criterion=torch.nn.NLLLoss(), vote_criterion=categorical_accuracy,
                              minimise_criterion=False)
    return make_learner


@dataclass
class Setup:
    """What every approach shares: the data, the starting weights, how to build a learner and to score."""

    loaders: Sequence[LearnerLoaders]
    make_learner: MakeLearner
    initial_weights: Weights
    num_train_batches: int | None
    metric: Metric | None = None
    reading: BatchReading = field(default_factory=BatchReading)  # the learners' inputs_targets and logits

    def learner(self, train_loader: Iterable, vote_loader: Iterable) -> PytorchLearner:
        """A learner from ``make_learner`` with the shared starting weights and training budget."""
        learner = _checked_learner(self.make_learner(train_loader, vote_loader), train_loader, vote_loader)
        learner.num_train_batches = self.num_train_batches
        learner.mli_accept_weights(self.initial_weights)
        return learner

    def learners(self) -> list[PytorchLearner]:
        """One learner per part of the data."""
        return [self.learner(part.train, part.vote) for part in self.loaders]

    def batches_per_proposal(self, learner_index: int) -> int:
        """How many batches learner ``learner_index`` trains on per proposal."""
        n_batches = len(self.loaders[learner_index].train)
        return min(n_batches, self.num_train_batches or n_batches)

    def mean_test_accuracy(self, models: Sequence[torch.nn.Module]) -> float:
        """Each learner's model on that learner's test data, averaged (one pass when all models are equal)."""
        tests = [part.test for part in self.loaders]
        if self.metric is not None:
            return _mean_metric(models, tests, self.metric, self.reading)
        if all(_same_weights(models[0], model) for model in models[1:]):
            return _mean_accuracy_of_one_model(models[0], tests, self.reading)
        pairs = zip(models, tests, strict=True)
        return sum(_accuracy(model, test, self.reading) for model, test in pairs) / len(tests)


def _checked_learner(learner: object, train_loader: Iterable, vote_loader: Iterable) -> PytorchLearner:
    """``learner`` when it is a ``PytorchLearner`` on the loaders ``make_learner`` was given; else raise."""
    if not isinstance(learner, PytorchLearner):
        raise ValueError(f"make_learner: returned {type(learner).__name__}; expected a PytorchLearner built "
                         "on the train_loader and vote_loader it is given")
    private = learner.privacy is not None  # DP-SGD trains on its own sampling of the train loader
    if learner.vote_loader is not vote_loader or (not private and learner.train_loader is not train_loader):
        raise ValueError("make_learner: returned a learner on other loaders; expected one built on the "
                         "train_loader and vote_loader it is given, so every approach sees the same data")
    return learner


def _check_log_probabilities(learner: PytorchLearner, vote_loader: Iterable) -> None:
    """Refuse a model whose outputs on a first batch are not log-probabilities (``NLLLoss`` needs them)."""
    inputs, _ = next(iter(vote_loader))
    learner.model.eval()
    with torch.no_grad():
        outputs = learner.model(inputs.to(learner.device))
    sums = outputs.double().exp().sum(dim=1) if outputs.dim() == 2 else None
    if sums is None or not torch.allclose(sums, torch.ones_like(sums), atol=1e-3):
        found = (f"outputs of shape {tuple(outputs.shape)}" if sums is None
                 else f"outputs whose exp sums to {sums.min().item():.3g}..{sums.max().item():.3g}")
        raise ValueError(f"make_model: got {found} on a first batch; expected log-probabilities, one row "
                         "per sample (the default learner trains with NLLLoss): end forward with "
                         "log_softmax, or pass make_learner with your own loss (e.g. CrossEntropyLoss for "
                         "logits)")


@torch.no_grad()
def _mean_metric(models: Sequence[torch.nn.Module], tests: Sequence[TensorLoader], metric: Metric,
                 reading: BatchReading) -> float:
    """The mean over learners of ``metric(outputs, labels)`` of each model on its learner's test data."""
    scores = []
    for model, test in zip(models, tests, strict=True):
        model.eval()
        inputs, labels = reading.split((test.inputs, test.labels))
        scores.append(float(metric(reading.logits_of(model, inputs), labels)))
    return sum(scores) / len(scores)


@torch.no_grad()
def _accuracy(model: torch.nn.Module, test: TensorLoader, reading: BatchReading) -> float:
    """Fraction of ``test``'s samples whose highest output is the label, its batches read by ``reading``."""
    model.eval()
    correct = 0
    for batch in test:
        inputs, labels = reading.split(batch)
        correct += (reading.logits_of(model, inputs).argmax(dim=1) == labels).sum().item()
    return correct / len(test.labels)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return a is b or all(torch.equal(x, y)
                         for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@torch.no_grad()
def _mean_accuracy_of_one_model(model: torch.nn.Module, test_loaders: Sequence[TensorLoader],
                                reading: BatchReading) -> float:
    """The mean over loaders of ``model``'s accuracy on each, from one forward pass over all of them."""
    model.eval()
    inputs, labels = reading.split((torch.cat([t.inputs for t in test_loaders]),
                                    torch.cat([t.labels for t in test_loaders])))
    correct = reading.logits_of(model, inputs).argmax(dim=1) == labels
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


def _run_federated(setup: Setup, n_fed_rounds: int) -> Curve:
    """Flower's FedAvg: every learner trains from the shared model, which becomes their weighted average."""
    learners = setup.learners()
    batches, scores = [0], [setup.mean_test_accuracy([learner.model for learner in learners])]

    def record(results: Results) -> None:
        batches.append(batches[-1] + sum(s["n_train_batches"] for s in results.data[-1].training_summaries))
        scores.append(setup.mean_test_accuracy([learner.model for learner in learners]))

    sizes = [len(part.train.labels) for part in setup.loaders]
    run_federated(learners, n_fed_rounds, "fedavg", num_examples=sizes, on_round=record)
    return batches, scores


def _check_tensor_loaders(loaders: Sequence[LearnerLoaders]) -> None:
    """Refuse loaders other than the kit's: the pooled model and the shared shuffles need their tensors."""
    for i, part in enumerate(loaders):
        for kind in ("train", "vote", "test"):
            loader = getattr(part, kind, None)
            if not isinstance(loader, TensorLoader):
                raise ValueError(f"loaders: learner {i}'s {kind} loader is a {type(loader).__name__}; "
                                 "expected the kit's loaders, e.g. learner_loaders(your_train_dataset, "
                                 "your_test_dataset, n_learners) (the pooled baseline pools their tensors)")


def compare_fairly(loaders: Sequence[LearnerLoaders], n_rounds: int = 20, vote_threshold: float = 0.5,
                   learning_rate: float | None = None, num_train_batches: int | None = None,
                   make_model: Callable[[], torch.nn.Module] | None = None, seed: int = 0,
                   make_learner: MakeLearner | None = None, metric: Metric | None = None) -> Comparison:
    """Run all four approaches on ``loaders`` from the same start with the same training budget.

    Collective learning, each learner alone and the pooled model train one proposer's worth of
    batches per round; federated averaging runs one round per ``n_learners`` rounds, in which every
    learner trains. The x values are training batches done so far, all learners together.

    Every learner of every approach comes from ``make_learner(train_loader, vote_loader)``, which
    returns a ``PytorchLearner`` on those two loaders built your way (model, optimizer, loss, vote
    score); all of them then start from the weights of the first one built. By default it is
    ``tutorial_learner(make_model, learning_rate)``: ``make_model()`` (default ``TutorialNet``), which
    must output log-probabilities (checked on a first batch), Adam (default ``learning_rate`` 1e-3),
    ``NLLLoss``, categorical accuracy; ``make_model`` and ``learning_rate`` are for the default only.
    ``num_train_batches`` is every learner's budget per proposal (``None``: the first learner's own
    ``num_train_batches``; all its batches if that is ``None`` too). Each model is scored on its
    learner's test data by ``metric(outputs, labels)`` (default: argmax accuracy, for classifiers).

    >>> import torch
    >>> from colearn_nb.pytorch.metrics import categorical_accuracy
    >>> def my_learner(train_loader, vote_loader):  # a model with logits, so CrossEntropyLoss
    ...     model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))
    ...     return PytorchLearner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
    ...                           train_loader=train_loader, vote_loader=vote_loader,
    ...                           criterion=torch.nn.CrossEntropyLoss(), vote_criterion=categorical_accuracy,
    ...                           minimise_criterion=False)
    >>> from colearn_nb.tutorial.mnist import load_mnist
    >>> from colearn_nb.pytorch.splitting import learner_loaders
    >>> loaders = learner_loaders(*load_mnist(), n_learners=2, seed=0)
    >>> comparison = compare_fairly(loaders, n_rounds=2, num_train_batches=2, make_learner=my_learner)
    >>> comparison.training_batches["collective"]
    [0, 2, 4]
    """
    check_n_learners(loaders)
    _check_tensor_loaders(loaders)
    check_n_rounds(n_rounds, minimum=1)
    check_vote_threshold(vote_threshold)
    check_batches("num_train_batches", num_train_batches)
    for name, function in (("make_learner", make_learner), ("make_model", make_model), ("metric", metric)):
        if function is not None and not callable(function):
            raise ValueError(f"{name}: got {function!r}; expected a function (or None for the default)")
    if make_learner is not None and (make_model is not None or learning_rate is not None):
        given = "make_model" if make_model is not None else "learning_rate"
        raise ValueError(f"{given}: got {make_model if make_model is not None else learning_rate!r} with "
                         "make_learner; expected one of them: set the model and optimizer in make_learner")
    default = make_learner is None
    if make_learner is None:
        make_learner = tutorial_learner(make_model or TutorialNet, 1e-3 if learning_rate is None else
                                        check_number("learning_rate", learning_rate, 0, low_open=True))
    seed_everything(seed)
    train, vote = loaders[0].train, loaders[0].vote
    first = _checked_learner(make_learner(train, vote), train, vote)  # its weights: everyone's start
    if default:
        _check_log_probabilities(first, vote)
    budget = num_train_batches if num_train_batches is not None else first.num_train_batches
    setup = Setup(loaders, make_learner, first.mli_get_current_weights(), budget, metric, first.batches)
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
