"""Round results as plain data and their per-round statistics (notebooks 04 and 05).

``Results.data[0]`` holds the initial scores (the "start", no vote); ``data[k]`` is the round run
with ``round_index = k - 1``. Strict JSON and its checks are in ``results_json``; the printed report
(``print_results``, ``format_budget``, ``round_label``...) is in ``report`` and importable from here too.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .results_json import check_not_empty, checked_rounds, strict_json_text

DP_BUDGET_EXCEEDED = "DP_BUDGET_EXCEEDED"  # a training summary's error_code: the privacy budget is spent
REPORT_NAMES = ("print_results", "format_results", "format_budget", "format_score", "round_label",
                "round_headline", "shared_model_line", "shown_vote")


@dataclass
class Result:
    """One round: accepted or not, every learner's vote and scores, and who proposed."""

    vote: bool = False
    votes: list[bool | None] = field(default_factory=list)
    vote_scores: list[float] = field(default_factory=list)
    test_scores: list[float] = field(default_factory=list)
    training_summaries: list[Any] = field(default_factory=list)
    block_proposer: int | None = None
    errors: list[str] = field(default_factory=list)  # why learners abstained, or why a proposal was refused
    missing: list[int] = field(default_factory=list)  # learners that did not answer (a deployment's deadline)
    # a class's teacher controls (``class_controls``), recorded from the teacher's first change on:
    vote_threshold: float | None = None  # the threshold that decided this round
    attacks: list[str | None] = field(default_factory=list)  # each learner's attack if told to propose one

    def __repr__(self) -> str:
        return (f"Result(proposer={self.block_proposer}, accepted={self.vote}, "
                f"votes={self.votes}, mean_test_score={mean(self.test_scores):.4g})")


def mean(values: list[float]) -> float:
    """The mean of ``values``; NaN for none.

    >>> mean([0.25, 0.75]), mean([])
    (0.5, nan)
    """
    return sum(values) / len(values) if values else float("nan")


def holds_its_scores(result: Result) -> bool:
    """True when the learners hold the weights ``result`` scored: an accepted proposal, or no proposal at all.

    ``block_proposer is None`` marks the start (``initial_result``), learners training alone
    (``individual_training_round``) and a federated round, with ``vote`` True (``colearn_nb.flower``'s
    ``run_federated``: every learner took the aggregate): each learner scored the weights it then kept,
    and nobody voted.
    """
    return result.vote or result.block_proposer is None


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
        if not self.data:
            return "Results(empty)"
        return (f"Results(start + {len(self.data) - 1} rounds, {self.n_learners} learners, "
                f"shared model's mean test score {self.shared_model_scores[-1]:.4g})")

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
        return [mean(r.test_scores) for r in self.data]

    @property
    def mean_vote_scores(self) -> list[float]:
        """Mean vote score of each round."""
        return [mean(r.vote_scores) for r in self.data]

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

        (``mean_test_scores`` are the scores of each round's proposal, accepted or not.) A learner that
        could not score (it abstained, or was missing on Flower: its scores are NaN) is left out of the mean.

        >>> r = Results([Result(False, [True, True], [0.1, 0.1], [0.1, 0.2]),
        ...              Result(True, [None, True], [0.5, 0.5], [0.5, 0.6], block_proposer=0),
        ...              Result(False, [False, None], [0.1, 0.1], [0.1, 0.1], block_proposer=1)])
        >>> [round(s, 2) for s in r.shared_model_scores]
        [0.15, 0.55, 0.55]
        >>> nan = float("nan")  # learner 2 missing
        >>> Results([Result(True, [None, True, False], [0.5, 0.5, nan], [0.4, 0.6, nan], block_proposer=0)]
        ...         ).shared_model_scores
        [0.5]
        """
        scores: list[float] = []
        for result in self.data:
            held = holds_its_scores(result) or not scores
            scores.append(mean([s for s in result.test_scores if not math.isnan(s)]) if held else scores[-1])
        return scores

    def process_statistics(self) -> None:
        """Kept for code written for colearn: statistics are properties here, always current."""

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return {"data": [asdict(r) for r in self.data]}

    @classmethod
    def from_dict(cls, d: dict) -> Results:
        """Inverse of ``to_dict``: checks every value's type; ``None`` is read as NaN where a score is due.

        >>> Results.from_dict({"data": [{"vote": True, "votes": [True], "vote_scores": [None],
        ...                              "test_scores": [0.5]}]}).data[0].vote_scores
        [nan]
        >>> Results.from_dict({"data": [{"vote": True, "votes": ["yes"], "vote_scores": [0.5],
        ...                              "test_scores": [0.5]}]})
        Traceback (most recent call last):
        ValueError: round 0: votes[0]: got 'yes'; expected true, false or null
        """
        field_names = {f.name for f in fields(Result)}
        return cls(data=[Result(**checked) for checked in checked_rounds(d, field_names)])

    def to_json(self, indent: int | None = None) -> str:
        """The results as strict JSON: NaN and infinities as ``null`` (read back as NaN by ``from_dict``)."""
        return strict_json_text(self.to_dict(), indent)

    def save(self, path: str | Path) -> None:
        """Write ``to_json`` to ``path``; ``load`` reads it back."""
        Path(path).write_text(self.to_json(indent=1))

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
        """Read results written by ``save`` (older files with bare ``NaN`` too); refuse wrong types.

        A file without a round (no learners' scores) is refused too: there is nothing to continue.
        """
        try:
            results = cls.from_dict(json.loads(Path(path).read_text()))
            check_not_empty(results.data)
            return results
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"path: {str(path)!r} is not a results file written by Results.save "
                             f"({exc})") from exc


def __getattr__(name: str) -> Any:
    """The report's names (``print_results``...), importable from here as before they moved to ``report``."""
    if name in REPORT_NAMES:
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
