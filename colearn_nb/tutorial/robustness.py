"""A robustness lab: the kit's attacks against voting and against Flower's robust aggregation rules.

Every run starts from the same data split, the same starting weights and the same shuffles, and every
learner trains the same number of batches: a learner proposes ``n_fed_rounds`` times in a voting run of
``n_fed_rounds * n_learners`` rounds (one proposer a round), and trains ``n_fed_rounds`` times in a
federated run of ``n_fed_rounds`` rounds (every learner every round). The attackers are the last learners;
learner 0 is always honest, and its model (the one every learner holds) is scored on the shared test digits.

Taught in notebook 14.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..flower.aggregation import run_federated
from ..protocol.checks import check_choice, check_int, check_number
from ..protocol.interface import MachineLearningInterface
from ..protocol.loop import run_rounds
from ..pytorch.attacks import (
    BackdoorProposer,
    Colluder,
    LabelFlipLearner,
    RandomWeightsProposer,
    SignFlipProposer,
    attack_success_rate,
)
from ..pytorch.learner import PytorchLearner
from ..pytorch.loaders import dataset_tensors
from ..pytorch.seeding import seed_everything
from .factory import make_mnist_learners
from .mnist import load_mnist

ATTACKS = ("garbage", "sign flip", "label flip", "backdoor", "colluding ring")
RULES = ("fedavg", "fedmedian", "fedtrimmedavg", "krum", "multikrum", "bulyan")
NO_ATTACK = "none"
SCORES = ("accuracy", "asr")  # final test accuracy; the backdoor's attack success rate
Wrap = Callable[[PytorchLearner, int], MachineLearningInterface]  # (learner, its index) -> attacker

# each attack as a wrapper of one learner; garbage differs between attackers, a ring's garbage is one
WRAPS: dict[str, Wrap] = {
    "garbage": lambda learner, i: RandomWeightsProposer(learner, seed=i),
    "sign flip": lambda learner, i: SignFlipProposer(learner),
    "label flip": lambda learner, i: LabelFlipLearner(learner),
    "backdoor": lambda learner, i: BackdoorProposer(learner, target_label=0),
    "colluding ring": lambda learner, i: Colluder(RandomWeightsProposer(learner, seed=0)),
}


def small_net() -> torch.nn.Module:
    """A small multilayer perceptron (28 x 28 -> 32 -> 10 log-probabilities): quick enough for many runs."""
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 32), torch.nn.ReLU(),
                               torch.nn.Linear(32, 10), torch.nn.LogSoftmax(dim=1))


@dataclass
class LabSettings:
    """What every run of the lab shares: the split, the budget, the thresholds and each rule's options."""

    n_learners: int = 8
    n_fed_rounds: int = 3
    num_train_batches: int = 4
    thresholds: tuple[float, ...] = (0.25, 0.5)
    rule_options: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "fedtrimmedavg": {"beta": 0.25}, "krum": {"num_malicious_nodes": 2},
        "multikrum": {"num_malicious_nodes": 2, "num_nodes_to_select": 4},
        "bulyan": {"num_malicious_nodes": 1}})
    seed: int = 0
    make_model: Callable[[], torch.nn.Module] = small_net

    @property
    def n_vote_rounds(self) -> int:
        """Voting rounds with the federated runs' training: one proposer a round, each learner in turn."""
        return self.n_fed_rounds * self.n_learners

    def approaches(self) -> list[str]:
        """The approaches' names: a voting run per threshold, then Flower's rules."""
        return [f"vote {t}" for t in self.thresholds] + list(RULES)


@dataclass
class Outcome:
    """One run: the attack, how many of the learners attack, the approach, and what the model ended with."""

    attack: str
    n_attackers: int
    approach: str
    accuracy: float
    attack_success_rate: float
    n_batches: int  # training batches of all learners together


@dataclass
class RobustnessLab:
    """Every run's ``Outcome`` (plain data), with the settings they share."""

    settings: LabSettings
    outcomes: list[Outcome] = field(default_factory=list)

    def fractions(self) -> list[float]:
        """The attacker fractions measured, from 0."""
        return sorted({o.n_attackers / self.settings.n_learners for o in self.outcomes})

    def get(self, attack: str, fraction: float, approach: str) -> Outcome:
        """The outcome of ``approach`` against ``attack`` at ``fraction`` (0: the run with no attack)."""
        n_attackers = round(fraction * self.settings.n_learners)
        wanted = NO_ATTACK if n_attackers == 0 else attack
        for outcome in self.outcomes:
            if (outcome.attack, outcome.n_attackers, outcome.approach) == (wanted, n_attackers, approach):
                return outcome
        raise KeyError(f"no run of {approach} against {attack} at fraction {fraction}")

    def accuracy(self, attack: str, fraction: float, approach: str) -> float:
        """The final test accuracy of ``approach`` against ``attack`` at ``fraction``."""
        return self.get(attack, fraction, approach).accuracy

    def success(self, fraction: float, approach: str, attack: str = "backdoor") -> float:
        """The backdoor's attack success rate against ``approach`` at ``fraction``."""
        return self.get(attack, fraction, approach).attack_success_rate

    def attacks(self) -> list[str]:
        """The attacks measured, in the lab's order."""
        return [a for a in ATTACKS if any(o.attack == a for o in self.outcomes)]

    def columns(self, score: str = "accuracy") -> list[tuple[str, float]]:
        """The (attack, fraction) columns of ``score`` ("accuracy": every attack; "asr": the backdoor's)."""
        attacks = ["backdoor"] if check_choice("score", score, SCORES) == "asr" else self.attacks()
        return [(attacks[0], 0.0)] + [(a, f) for a in attacks for f in self.fractions() if f > 0]

    def values(self, score: str = "accuracy") -> list[list[float]]:
        """The ``score`` of every approach (a row each) in every one of ``columns(score)``."""
        outcomes = [[self.get(a, f, approach) for a, f in self.columns(score)]
                    for approach in self.settings.approaches()]
        asr = score == "asr"
        return [[o.attack_success_rate if asr else o.accuracy for o in row] for row in outcomes]

    def table(self, score: str = "accuracy") -> str:
        """A text table: a row per (attack, fraction), a column per approach."""
        approaches, columns = self.settings.approaches(), self.columns(score)
        names = ["no attack" if f == 0 else f"{a} {f:.2f}" for a, f in columns]
        width = max(len(n) for n in names)
        lines = [" " * width + "  " + "  ".join(approaches)]
        by_column = list(zip(*self.values(score), strict=True))
        for name, row in zip(names, by_column, strict=True):
            cells = [f"{v:.3f}".rjust(len(approach)) for v, approach in zip(row, approaches, strict=True)]
            lines.append(name.ljust(width) + "  " + "  ".join(cells))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return asdict(self)


def _learners(settings: LabSettings, attack: str, n_attackers: int) -> list[MachineLearningInterface]:
    """Fresh learners (same split, weights and shuffles every time); the last ``n_attackers`` attack."""
    seed_everything(settings.seed)
    learners: list[MachineLearningInterface] = list(make_mnist_learners(
        n_learners=settings.n_learners, seed=settings.seed, num_train_batches=settings.num_train_batches,
        num_test_batches=1, make_model=settings.make_model))
    first = settings.n_learners - n_attackers
    for i in range(first, settings.n_learners):
        learners[i] = WRAPS[attack](learners[i], i)  # type: ignore[arg-type]
    for learner in learners[1:]:
        learner.mli_accept_weights(learners[0].mli_get_current_weights())  # everyone from learner 0's
    return learners


@torch.no_grad()
def _accuracy(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``inputs`` whose highest output is the label."""
    model.eval()
    return float((model(inputs).argmax(dim=1) == labels).float().mean())


def run_one(settings: LabSettings, attack: str, n_attackers: int, approach: str,
            test: tuple[torch.Tensor, torch.Tensor]) -> Outcome:
    """One run of ``approach`` against ``n_attackers`` learners making ``attack``; learner 0 scored on
    ``test``."""
    learners = _learners(settings, attack, n_attackers)
    gc.freeze()  # what is alive now (modules Flower imported on the last run too) is left out of collections
    if approach.startswith("vote "):
        results = run_rounds(learners, settings.n_vote_rounds, float(approach.split()[1]))
    else:
        results = run_federated(learners, settings.n_fed_rounds, approach,
                                **settings.rule_options.get(approach, {}))
    batches = sum(s.get("n_train_batches", 0) for r in results.data[1:] for s in r.training_summaries
                  if isinstance(s, dict))
    model = learners[0].model  # type: ignore[attr-defined]  # learner 0 is an honest PytorchLearner
    return Outcome(attack, n_attackers, approach, _accuracy(model, *test),
                   attack_success_rate(model, *test), batches)


def robustness_lab(settings: LabSettings | None = None, fractions: Sequence[float] = (0.25, 0.5),
                   attacks: Sequence[str] = ATTACKS) -> RobustnessLab:
    """Every approach with no attack, then against each of ``attacks`` at each attacker ``fraction``."""
    settings = settings or LabSettings()
    check_int("n_learners", settings.n_learners, minimum=2)
    for attack in attacks:
        check_choice("attacks", attack, ATTACKS)
    counts = [round(check_number("fractions", f, 0, 0.5, low_open=True) * settings.n_learners)
              for f in fractions]
    test = dataset_tensors(load_mnist()[1])
    lab = RobustnessLab(settings)
    runs = [(NO_ATTACK, 0)] + [(attack, k) for attack in attacks for k in counts]
    with quick_runs():
        for attack, n_attackers in runs:
            for approach in settings.approaches():
                lab.outcomes.append(run_one(settings, attack, n_attackers, approach, test))
    return lab


@contextmanager
def quick_runs() -> Iterator[None]:
    """Inside the block: torch on one thread (the small net's batches gain nothing from more, and the numbers
    are the same on every machine); the objects ``run_one`` froze out of garbage collections are let back
    at its end (Flower's Bulyan collects garbage for every update it reads: a second a round, not a
    millisecond, when everything alive is scanned)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        gc.unfreeze()
        torch.set_num_threads(threads)
