"""Round results as plain data, their per-round statistics, and a printed table (notebooks 04 and 05).

``Results.data[0]`` holds the initial scores (the "start", no vote); ``data[k]`` is the round run
with ``round_index = k - 1``. Every print and plot numbers rounds that way (``round_label``).
"""
from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass, field, fields
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
    errors: list[str] = field(default_factory=list)  # why learners abstained, or why a proposal was refused
    missing: list[int] = field(default_factory=list)  # learners that did not answer (a deployment's deadline)

    def __repr__(self) -> str:
        return (f"Result(proposer={self.block_proposer}, accepted={self.vote}, "
                f"votes={self.votes}, mean_test_score={_mean(self.test_scores):.4g})")


def _mean(values: list[float]) -> float:
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
            scores.append(_mean([s for s in result.test_scores if not math.isnan(s)]) if held else scores[-1])
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
        if not isinstance(d, dict) or not isinstance(d.get("data"), list):
            raise ValueError(f"data: got {type(d).__name__} without a 'data' list; expected the dict "
                             "made by Results.to_dict")
        data = [_result_from_dict(round_index, r) for round_index, r in enumerate(d["data"])]
        for round_index, result in enumerate(data[1:], start=1):
            if len(result.votes) != len(data[0].votes):
                raise ValueError(f"round {round_index}: votes: got {len(result.votes)} learners; expected "
                                 f"{len(data[0].votes)}, as in round 0")
        return cls(data=data)

    def to_json(self, indent: int | None = None) -> str:
        """The results as strict JSON: NaN and infinities as ``null`` (read back as NaN by ``from_dict``)."""
        return json.dumps(_strict_json(self.to_dict()), indent=indent, allow_nan=False, default=str)

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
            if not results.data:
                raise ValueError("data: got no rounds; expected at least the learners' initial scores")
            return results
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"path: {str(path)!r} is not a results file written by Results.save "
                             f"({exc})") from exc


def _strict_json(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and numpy-like scalars as Python ones, for strict JSON."""
    if isinstance(value, dict):
        return {key: _strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict_json(item) for item in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if type(value).__name__ == "bool_":  # numpy's bool, which is no bool
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scores(where: str, name: str, values: Any) -> list[float]:
    """A list of scores: numbers, or ``None`` (a NaN written by ``save``) read as NaN."""
    if not isinstance(values, list):
        raise ValueError(f"{where}: {name}: got {values!r}; expected a list of numbers (null for NaN)")
    for i, value in enumerate(values):
        if value is not None and not _is_number(value):
            raise ValueError(f"{where}: {name}[{i}]: got {value!r}; expected a number or null (NaN)")
    return [math.nan if value is None else float(value) for value in values]


def _summaries(where: str, values: Any) -> list[Any]:
    """Training summaries: free-form, except that a privacy budget holds numbers (``None`` read as NaN)."""
    if not isinstance(values, list):
        raise ValueError(f"{where}: training_summaries: got {values!r}; expected a list")
    keys = ("target_epsilon", "consumed_epsilon", "target_delta", "consumed_delta")
    summaries = []
    for i, summary in enumerate(values):
        if isinstance(summary, dict) and "dp_budget" in summary:
            name, budget = f"training_summaries[{i}]['dp_budget']", summary["dp_budget"]
            if not isinstance(budget, dict) or not all(key in budget for key in keys):
                raise ValueError(f"{where}: {name}: got {budget!r}; expected a dict with {', '.join(keys)}")
            scores = _scores(where, name, [budget[key] for key in keys])
            summary = {**summary, "dp_budget": {**budget, **dict(zip(keys, scores, strict=True))}}
        summaries.append(summary)
    return summaries


def _result_from_dict(round_index: int, r: Any) -> Result:
    """One ``Result`` from ``asdict`` data, each field checked; an error names the round and the field."""
    where = f"round {round_index}"
    if not isinstance(r, dict):
        raise ValueError(f"{where}: got {type(r).__name__}; expected a dict of Result fields")
    unknown = sorted(set(r) - {f.name for f in fields(Result)})
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown}; expected only Result's fields")
    vote, votes, proposer = r.get("vote", False), r.get("votes", []), r.get("block_proposer")
    if not isinstance(vote, bool):
        raise ValueError(f"{where}: vote: got {vote!r}; expected true or false")
    if not isinstance(votes, list):
        raise ValueError(f"{where}: votes: got {votes!r}; expected a list of true, false or null")
    for i, each in enumerate(votes):
        if each is not None and not isinstance(each, bool):
            raise ValueError(f"{where}: votes[{i}]: got {each!r}; expected true, false or null")
    vote_scores = _scores(where, "vote_scores", r.get("vote_scores", []))
    test_scores = _scores(where, "test_scores", r.get("test_scores", []))
    if not votes:
        raise ValueError(f"{where}: votes: got no learners; "
                         "expected one vote (true, false or null) per learner")
    if not len(votes) == len(vote_scores) == len(test_scores):
        raise ValueError(f"{where}: votes, vote_scores and test_scores: got {len(votes)}, {len(vote_scores)} "
                         f"and {len(test_scores)} entries; expected one per learner in each")
    if proposer is not None and not (isinstance(proposer, int) and not isinstance(proposer, bool)
                                     and 0 <= proposer < len(votes)):
        raise ValueError(f"{where}: block_proposer: got {proposer!r}; expected null (no proposal) or a "
                         f"learner's index, an integer in [0, {len(votes) - 1}]")
    errors = r.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise ValueError(f"{where}: errors: got {errors!r}; expected a list of strings")
    return Result(vote=vote, votes=list(votes), vote_scores=vote_scores, test_scores=test_scores,
                  training_summaries=_summaries(where, r.get("training_summaries", [])),
                  block_proposer=proposer, errors=list(errors), missing=_learners(where, r.get("missing", []),
                                                                                  len(votes)))


def _learners(where: str, values: Any, n_learners: int) -> list[int]:
    """``missing``: learners' indices, each in [0, n_learners - 1] (older files have none: ``[]``)."""
    if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n_learners for v in values):
        raise ValueError(f"{where}: missing: got {values!r}; expected a list of learners' indices, integers "
                         f"in [0, {n_learners - 1}]")
    return list(values)


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) and math.isfinite(x) else str(x)


def round_label(data_index: int) -> str:
    """The round of ``Results.data[data_index]``: "start" for the initial scores, else its ``round_index``.

    ``data[0]`` holds the scores before any round; ``data[k]`` is the round run with ``round_index = k - 1``,
    in which learner ``(k - 1) % n_learners`` proposed.

    >>> round_label(0), round_label(1), round_label(20)
    ('start', '0', '19')
    """
    return "start" if data_index == 0 else str(data_index - 1)


def round_headline(results: Results) -> str:
    """The last round in words: its ``round_index``, who proposed, accepted or not and the yes votes.

    >>> round_headline(Results([Result(False, [True, True], [0.5, 0.6], [0.4, 0.5])]))
    'Start: equal starting weights, before round 0 (no vote)'
    """
    last, data_index = results.data[-1], len(results.data) - 1
    if data_index == 0:
        return "Start: equal starting weights, before round 0 (no vote)"
    if last.block_proposer is None:
        done = "trained and took the aggregate" if last.vote else "trained alone"
        return f"Round {data_index - 1}: every learner {done} (no vote)"
    yes = sum(v is True for v in last.votes)
    return (f"Round {data_index - 1}: learner {last.block_proposer} proposed, "
            f"{'accepted' if last.vote else 'rejected'} ({yes} of {len(last.votes) - 1} voted yes)")


def shared_model_line(results: Results, score_name: str = "score") -> str:
    """The mean test score of the weights every learner holds after the last round (its own, when alone)."""
    alone = len(results.data) > 1 and results.data[-1].block_proposer is None and not results.data[-1].vote
    held = "each learner's own model" if alone else "shared model"
    return f"{held}: mean test {score_name} {_fmt(results.shared_model_scores[-1])}"


def shown_vote(result: Result, learner: int) -> bool | None:
    """A learner's vote as shown: ``None`` (no vote) where nobody voted, the start included."""
    return None if result.block_proposer is None else result.votes[learner]


def format_results(results: Results) -> str:
    """The latest round as text: what happened, the shared model's score, then the table of the vote."""
    if not results.data:
        return "no rounds yet"
    last = results.data[-1]
    lines = [round_headline(results), shared_model_line(results)]
    if last.block_proposer is not None:
        lines.append(f"learner {last.block_proposer}'s proposal, as each learner scored it:")
    vote_word = {True: "yes", False: "no", None: "-"}
    lines.append(f"{'learner':>7}  {'vote':>4}  {'vote score':>10}  {'test score':>10}")
    for i, (vs, ts) in enumerate(zip(last.vote_scores, last.test_scores, strict=False)):
        v = shown_vote(last, i)
        lines.append(f"{i:>7}  {vote_word.get(v, str(v)):>4}  {_fmt(vs):>10}  {_fmt(ts):>10}")
    lines.append(f"{'mean':>7}  {'':>4}  "
                 f"{_fmt(_mean(last.vote_scores)):>10}  {_fmt(_mean(last.test_scores)):>10}")
    lines += [line for line in map(format_budget, last.training_summaries) if line]
    return "\n".join(lines + last.errors)


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
        line += f"; {DP_BUDGET_EXCEEDED}: did not train"
    return line


def print_results(results: Results) -> None:
    """Print the latest round: what happened, the shared model's mean test score, and the vote as a table.

    Rounds are numbered by ``round_index`` (as ``collective_learning_round`` takes it); the initial
    scores are the "start", where nobody votes.

    >>> r = Results([Result(vote=False, votes=[True, True], vote_scores=[0.5, 0.7], test_scores=[0.4, 0.6])])
    >>> r.append(Result(vote=False, votes=[None, False], vote_scores=[0.4, 0.6], test_scores=[0.3, 0.5],
    ...                 block_proposer=0))
    >>> print_results(r)  # doctest: +NORMALIZE_WHITESPACE
    Round 0: learner 0 proposed, rejected (0 of 1 voted yes)
    shared model: mean test score 0.5000
    learner 0's proposal, as each learner scored it:
    learner  vote  vote score  test score
          0     -      0.4000      0.3000
          1    no      0.6000      0.5000
       mean            0.5000      0.4000
    """
    print(format_results(results))
