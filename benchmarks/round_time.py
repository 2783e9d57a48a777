"""Round time of colearn_nb against a plain PyTorch loop doing only the work a round needs.

    python benchmarks/round_time.py                      # 5 and 10 learners, 20 rounds, 3 repeats
    python benchmarks/round_time.py --threads 1          # on a busy machine: read the CPU-time ratio
    python benchmarks/round_time.py --n-learners 5 --repeats 1

The workload is the tutorial's: real MNIST split by ``make_mnist_learners`` (the tutorial's Net, batch 64,
Adam lr 1e-3, ``num_test_batches=2``), vote threshold 0.5, on the CPU. The plain loop reads the very tensors
of the learners' ``TensorLoader``s, copies the learners' initial weights and shuffle generators, and per
round: the proposer's weights are loaded into one work model that trains on the proposer's batches; that model
is evaluated once on every learner's vote and test batches; on acceptance every learner's weights are
overwritten by the proposal (nothing is evaluated again). Rounds alternate colearn / plain in one process (the
order flips every round), so both see the same threads, allocator and machine noise. Warm-up rounds run on
throw-away learners first and are not timed. The plain loop must reproduce colearn's votes and scores exactly,
otherwise the two did not do the same work and the script stops with an error.

Both wall-clock and process CPU time are reported. On a machine shared with other jobs, wall time swings
with their load; with ``--threads 1`` the CPU time of a round is the steadier measure of the work done.
"""
from __future__ import annotations

import argparse
import collections
import copy
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice

import torch

from colearn_nb import PytorchLearner, Result, collective_learning_round, seed_everything, set_equal_weights
from colearn_nb.tutorial.factory import make_mnist_learners

StateDict = dict[str, torch.Tensor]
Batch = tuple[torch.Tensor, torch.Tensor]
Times = tuple[float, float]
TARGET_RATIO = 1.03


@dataclass
class PlainLearner:
    """One learner's data and current weights, as plain tensors."""

    train_inputs: torch.Tensor
    train_labels: torch.Tensor
    generator: torch.Generator
    vote_batches: list[Batch]
    test_batches: list[Batch]
    weights: StateDict
    vote_correct: int = 0

    @property
    def n_vote_samples(self) -> int:
        """Number of samples the vote score is computed on."""
        return sum(len(labels) for _, labels in self.vote_batches)


def plain_learner(learner: PytorchLearner, num_test_batches: int) -> PlainLearner:
    """A ``PlainLearner`` on the same tensors, shuffle state and weights as ``learner``."""
    train, vote, test = learner.train_loader, learner.vote_loader, learner.test_loader
    generator = torch.Generator()
    generator.set_state(train.generator.get_state())
    weights = {k: v.detach().clone() for k, v in learner.model.state_dict().items()}
    return PlainLearner(train.inputs, train.labels, generator, list(islice(vote, num_test_batches)),
                        list(islice(test, num_test_batches)), weights)


class PlainRounds:
    """The protocol written as a bare PyTorch loop: one work model, no copies beyond what a round needs."""

    def __init__(self, learners: Sequence[PytorchLearner], learning_rate: float, vote_threshold: float,
                 batch_size: int, num_test_batches: int):
        self.learners = [plain_learner(learner, num_test_batches) for learner in learners]
        self.model = copy.deepcopy(learners[0].model)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=learning_rate)
        self.criterion = torch.nn.NLLLoss()
        self.vote_threshold, self.batch_size = vote_threshold, batch_size
        self.model.load_state_dict(self.learners[0].weights)
        for learner in self.learners:
            learner.vote_correct = self.n_correct(learner.vote_batches)

    @torch.no_grad()
    def n_correct(self, batches: list[Batch]) -> int:
        """Number of samples in ``batches`` the work model classifies right."""
        self.model.eval()
        return sum(int((self.model(inputs).argmax(dim=1) == labels).sum()) for inputs, labels in batches)

    def train(self, learner: PlainLearner) -> None:
        """Train the work model, from fresh Adam state, on one shuffled pass over ``learner``'s data."""
        self.model.load_state_dict(learner.weights)
        self.optimizer.state = collections.defaultdict(dict)
        self.model.train()
        order = torch.randperm(len(learner.train_labels), generator=learner.generator)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            self.optimizer.zero_grad()
            self.criterion(self.model(learner.train_inputs[batch]), learner.train_labels[batch]).backward()
            self.optimizer.step()

    def round(self, round_index: int) -> tuple[bool, list[tuple[int, int]]]:
        """One round; returns whether it was accepted and every learner's (vote, test) correct counts."""
        proposer = round_index % len(self.learners)
        self.train(self.learners[proposer])
        counts = [(self.n_correct(p.vote_batches), self.n_correct(p.test_batches)) for p in self.learners]
        approves = sum(vote > p.vote_correct
                       for i, (p, (vote, _)) in enumerate(zip(self.learners, counts, strict=True))
                       if i != proposer)
        accepted = approves >= (len(self.learners) - 1) * self.vote_threshold
        if accepted:
            proposal = self.model.state_dict()
            for learner, (vote, _) in zip(self.learners, counts, strict=True):
                for key, tensor in learner.weights.items():
                    tensor.copy_(proposal[key])
                learner.vote_correct = vote
        return accepted, counts


def check_same_work(result: Result, accepted: bool, counts: list[tuple[int, int]], plain: PlainRounds,
                    round_index: int) -> None:
    """Stop when the plain round did not reproduce colearn's decision and scores exactly."""
    plain_scores = [(vote / p.n_vote_samples, test / sum(len(y) for _, y in p.test_batches))
                    for p, (vote, test) in zip(plain.learners, counts, strict=True)]
    colearn_scores = list(zip(result.vote_scores, result.test_scores, strict=True))
    same_scores = all(abs(a - b) < 1e-6 for pair in zip(plain_scores, colearn_scores, strict=True)
                      for a, b in zip(*pair, strict=True))
    if accepted != result.vote or not same_scores:
        raise SystemExit(f"round {round_index}: the plain loop diverged from colearn_nb "
                         f"(accepted {accepted} vs {result.vote}; scores {plain_scores} vs "
                         f"{colearn_scores}); the comparison is void")


def timed(function, *args) -> tuple[object, tuple[float, float]]:
    """``function(*args)`` and the (wall-clock, process CPU) seconds it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    return value, (time.perf_counter() - wall, time.process_time() - cpu)


def build(args: argparse.Namespace, n_learners: int) -> tuple[list[PytorchLearner], PlainRounds]:
    """Fresh seeded colearn learners with equal weights, and a plain loop on the same data and weights."""
    seed_everything(args.seed)
    learners = make_mnist_learners(n_learners, batch_size=args.batch_size, learning_rate=args.learning_rate,
                                   num_test_batches=args.num_test_batches, seed=args.seed)
    set_equal_weights(learners)
    plain = PlainRounds(learners, args.learning_rate, args.vote_threshold, args.batch_size,
                        args.num_test_batches)
    return learners, plain


def run_alternating(args: argparse.Namespace, n_learners: int,
                    n_rounds: int) -> tuple[list[Times], list[Times]]:
    """Alternate colearn and plain rounds (order flipped every round); their (wall, CPU) round times."""
    learners, plain = build(args, n_learners)
    colearn_times, plain_times = [], []
    for round_index in range(n_rounds):
        if round_index % 2 == 0:
            result, colearn_s = timed(collective_learning_round, learners, args.vote_threshold, round_index)
            (accepted, counts), plain_s = timed(plain.round, round_index)
        else:
            (accepted, counts), plain_s = timed(plain.round, round_index)
            result, colearn_s = timed(collective_learning_round, learners, args.vote_threshold, round_index)
        check_same_work(result, accepted, counts, plain, round_index)
        colearn_times.append(colearn_s)
        plain_times.append(plain_s)
    return colearn_times, plain_times


def summary(colearn_times: list[Times], plain_times: list[Times],
            column: int) -> tuple[float, float, float, float]:
    """Medians of one column (0 wall, 1 CPU): colearn, plain, their ratio and the median per-round ratio."""
    colearn = statistics.median(t[column] for t in colearn_times)
    plain = statistics.median(t[column] for t in plain_times)
    paired = statistics.median(c[column] / p[column] for c, p in zip(colearn_times, plain_times, strict=True))
    return colearn, plain, colearn / plain, paired


def benchmark(args: argparse.Namespace, n_learners: int) -> tuple[float, float]:
    """Print median round times and their ratios for ``n_learners``; return the (wall, CPU) ratios."""
    if args.n_warmup_rounds:
        run_alternating(args, n_learners, args.n_warmup_rounds)
    colearn_times, plain_times = [], []
    for repeat in range(args.repeats):
        colearn_run, plain_run = run_alternating(args, n_learners, args.n_rounds)
        colearn_times += colearn_run
        plain_times += plain_run
        colearn, plain, ratio, _ = summary(colearn_run, plain_run, 0)
        print(f"  {n_learners} learners, repeat {repeat + 1}/{args.repeats}: wall median colearn_nb "
              f"{colearn * 1e3:.1f} ms, plain {plain * 1e3:.1f} ms, ratio {ratio:.3f}", flush=True)
    ratios = []
    for column, name in enumerate(("wall", "CPU")):
        colearn, plain, ratio, paired = summary(colearn_times, plain_times, column)
        verdict = "ok" if ratio <= TARGET_RATIO else "ABOVE TARGET"
        print(f"{n_learners} learners, {len(colearn_times)} rounds, {name} time: colearn_nb median "
              f"{colearn * 1e3:.1f} ms, plain median {plain * 1e3:.1f} ms, ratio {ratio:.3f} "
              f"(median per-round ratio {paired:.3f}); target <= {TARGET_RATIO}: {verdict}", flush=True)
        ratios.append(ratio)
    return ratios[0], ratios[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--n-learners", type=int, nargs="+", default=[5, 10], help="learner counts to time")
    parser.add_argument("--n-rounds", type=int, default=20, help="timed rounds per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="runs of n-rounds from fresh learners, pooled")
    parser.add_argument("--n-warmup-rounds", type=int, default=4,
                        help="untimed rounds on throw-away learners")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--num-test-batches", type=int, default=2)
    parser.add_argument("--vote-threshold", type=float, default=0.5)
    args = parser.parse_args(argv)
    for name in ("n_rounds", "repeats", "num_test_batches", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: got {getattr(args, name)}; expected an integer >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Time every learner count and print the ratios."""
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; {args.n_rounds} rounds x "
          f"{args.repeats} repeats after {args.n_warmup_rounds} warm-up rounds")
    ratios = {n: benchmark(args, n) for n in args.n_learners}
    print("ratios colearn_nb / plain (wall, CPU): "
          + ", ".join(f"{n} learners {wall:.3f}, {cpu:.3f}" for n, (wall, cpu) in ratios.items()))


if __name__ == "__main__":
    main()
