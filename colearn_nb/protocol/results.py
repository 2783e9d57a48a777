"""Round results as plain data, their per-round statistics, and a printed table (notebooks 04 and 05)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DP_BUDGET_EXCEEDED = "DP_BUDGET_EXCEEDED"  # a training summary's error_code: the privacy budget is spent



@dataclass
class Result:
    """One round: accepted or not, every learner's vote and scores, and who proposed."""

    vote: bool = False
    votes: list[bool | None] = field(default_factory=list)
    vote_scores: list[float] = field(default_factory=list)
    test_scores: list[float] = field(default_factory=list)
    training_summaries: list[Any] = field(default_factory=list)
    block_proposer: int | None = None
    errors: list[str] = field(default_factory=list)  # learners that failed to test and abstained

    def __repr__(self) -> str:
        return (f"Result(proposer={self.block_proposer}, accepted={self.vote}, "
                f"votes={self.votes}, mean_test_score={_mean(self.test_scores):.4g})")


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


@dataclass
class Results:
    """Every round's ``Result`` in ``data``; statistics are computed from it on demand."""

    data: list[Result] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.data)

    def append(self, result: Result) -> None:
        """Add the next round's ``Result``."""
        if not isinstance(result, Result):
            raise ValueError(f"result: got {type(result).__name__}; expected a Result, e.g. from "
                             "collective_learning_round")
        self.data.append(result)

    def __repr__(self) -> str:
        last = f", last mean test score {self.mean_test_scores[-1]:.4g}" if self.data else ""
        return f"Results({len(self.data)} rounds, {self.n_learners} learners{last})"

    @property
    def n_learners(self) -> int:
        """Number of learners (0 before the first round)."""
        return len(self.data[0].test_scores) if self.data else 0

    @property
    def h_test_scores(self) -> list[list[float]]:
        """Per-learner history of test scores: ``h_test_scores[learner][round]``."""
        return [[r.test_scores[i] for r in self.data] for i in range(self.n_learners)]

    @property
    def h_vote_scores(self) -> list[list[float]]:
        """Per-learner history of vote scores: ``h_vote_scores[learner][round]``."""
        return [[r.vote_scores[i] for r in self.data] for i in range(self.n_learners)]

    @property
    def mean_test_scores(self) -> list[float]:
        """Mean test score of each round."""
        return [_mean(r.test_scores) for r in self.data]

    @property
    def mean_vote_scores(self) -> list[float]:
        """Mean vote score of each round."""
        return [_mean(r.vote_scores) for r in self.data]

    @property
    def max_test_scores(self) -> list[float]:
        """Best learner's test score of each round."""
        return [max(r.test_scores) for r in self.data]

    @property
    def max_vote_scores(self) -> list[float]:
        """Best learner's vote score of each round."""
        return [max(r.vote_scores) for r in self.data]

    @property
    def n_accepted(self) -> int:
        """Number of accepted proposals (the initial result is not a proposal)."""
        return sum(r.vote for r in self.data if r.block_proposer is not None)

    @property
    def n_rejected(self) -> int:
        """Number of rejected proposals."""
        return sum(not r.vote for r in self.data if r.block_proposer is not None)

    @property
    def shared_model_scores(self) -> list[float]:
        """Mean test score of the weights the learners hold after each round: it changes only on acceptance.

        (``mean_test_scores`` are the scores of each round's proposal, accepted or not.)

        >>> r = Results([Result(True, [True, True], [0.1, 0.1], [0.1, 0.2]),
        ...              Result(True, [None, True], [0.5, 0.5], [0.5, 0.6], block_proposer=0),
        ...              Result(False, [False, None], [0.1, 0.1], [0.1, 0.1], block_proposer=1)])
        >>> [round(s, 2) for s in r.shared_model_scores]
        [0.15, 0.55, 0.55]
        """
        scores: list[float] = []
        for result in self.data:
            accepted = result.vote or not scores
            scores.append(_mean(result.test_scores) if accepted else scores[-1])
        return scores

    def process_statistics(self) -> None:
        """Kept for code written for colearn: statistics are properties here, always current."""

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return {"data": [asdict(r) for r in self.data]}

    @classmethod
    def from_dict(cls, d: dict) -> Results:
        """Inverse of ``to_dict``."""
        return cls(data=[Result(**r) for r in d["data"]])

    def save(self, path: str | Path) -> None:
        """Write the results as readable JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, default=str))

    def to_csv(self, path: str | Path) -> None:
        """Write one row per round and learner: round, learner, proposer, accepted, vote and both scores."""
        import csv

        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["round", "learner", "proposer", "accepted", "vote", "vote_score", "test_score"])
            for round_index, r in enumerate(self.data):
                for learner, row in enumerate(zip(r.votes, r.vote_scores, r.test_scores, strict=False)):
                    writer.writerow([round_index, learner, r.block_proposer, r.vote, *row])

    @classmethod
    def load(cls, path: str | Path) -> Results:
        """Read results written by ``save``."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"path: {str(path)!r} is not a results file written by Results.save "
                             f"({exc})") from exc


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) and math.isfinite(x) else str(x)


def round_headline(results: Results) -> str:
    """The last round in words: its index, who proposed, accepted or not and the yes votes."""
    last, round_index = results.data[-1], len(results.data) - 1
    if last.block_proposer is None:
        return f"Round {round_index}: initial scores"
    yes = sum(v is True for v in last.votes)
    return (f"Round {round_index}: learner {last.block_proposer} proposed, "
            f"{'accepted' if last.vote else 'rejected'} ({yes} of {len(last.votes) - 1} voted yes)")


def format_results(results: Results) -> str:
    """The latest round as a table (text)."""
    if not results.data:
        return "no rounds yet"
    last, head = results.data[-1], round_headline(results)
    vote_word = {True: "yes", False: "no", None: "-"}
    rows = [f"{'learner':>7}  {'vote':>4}  {'vote score':>10}  {'test score':>10}"]
    for i, (v, vs, ts) in enumerate(zip(last.votes, last.vote_scores, last.test_scores, strict=False)):
        rows.append(f"{i:>7}  {vote_word.get(v, str(v)):>4}  {_fmt(vs):>10}  {_fmt(ts):>10}")
    rows.append(f"{'mean':>7}  {'':>4}  "
                f"{_fmt(_mean(last.vote_scores)):>10}  {_fmt(_mean(last.test_scores)):>10}")
    rows += [line for line in map(format_budget, last.training_summaries) if line] + last.errors
    return "\n".join([head] + rows)


def format_budget(training_summary: Any) -> str | None:
    """One line on the privacy budget in a training summary, or ``None`` when it has none.

    >>> format_budget({"dp_budget": {"target_epsilon": 5.0, "consumed_epsilon": 1.25, "target_delta": 1e-5,
    ...                              "consumed_delta": 1e-5}})
    'privacy: epsilon 1.25 of 5 spent (delta 1e-05)'
    """
    if not isinstance(training_summary, dict) or "dp_budget" not in training_summary:
        return None
    budget = training_summary["dp_budget"]
    line = (f"privacy: epsilon {budget['consumed_epsilon']:.3g} of {budget['target_epsilon']:.3g} spent "
            f"(delta {budget['target_delta']:.3g})")
    if training_summary.get("error_code") == DP_BUDGET_EXCEEDED:
        line += f"; {DP_BUDGET_EXCEEDED}: proposed its current weights unchanged"
    return line


def print_results(results: Results) -> None:
    """Print the latest round as a table.

    >>> r = Results([Result(vote=True, votes=[True, True], vote_scores=[0.5, 0.7], test_scores=[0.4, 0.6])])
    >>> print_results(r)  # doctest: +NORMALIZE_WHITESPACE
    Round 0: initial scores
    learner  vote  vote score  test score
          0   yes      0.5000      0.4000
          1   yes      0.7000      0.6000
       mean            0.6000      0.5000
    """
    print(format_results(results))
