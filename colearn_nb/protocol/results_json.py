"""Results as strict JSON, and the checks that read them back: every value's type, every round's size.

``Results.to_json``/``save`` write through ``strict_json`` (NaN as ``null``); ``Results.from_dict``/``load``
read through ``checked_rounds``, whose errors name the round and the field.
"""
from __future__ import annotations

import json
import math
import numbers
from typing import Any


def strict_json(value: Any) -> Any:
    """``value`` with non-finite floats as ``None`` and numpy-like scalars as Python ones, for strict JSON.

    >>> strict_json({"scores": [0.5, float("nan")], "vote": True})
    {'scores': [0.5, None], 'vote': True}
    """
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if type(value).__name__ == "bool_":  # numpy's bool, which is no bool
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    return value


def strict_json_text(data: dict, indent: int | None = None) -> str:
    """``data`` as strict JSON text: NaN and infinities as ``null``, other objects as their ``str``."""
    return json.dumps(strict_json(data), indent=indent, allow_nan=False, default=str)


def checked_rounds(d: Any, field_names: set[str]) -> list[dict[str, Any]]:
    """Each round of ``Results.to_dict`` data as checked ``Result`` fields, all with round 0's learners."""
    if not isinstance(d, dict) or not isinstance(d.get("data"), list):
        raise ValueError(f"data: got {type(d).__name__} without a 'data' list; expected the dict "
                         "made by Results.to_dict")
    rounds = [checked_round(round_index, r, field_names) for round_index, r in enumerate(d["data"])]
    for round_index, result in enumerate(rounds[1:], start=1):
        if len(result["votes"]) != len(rounds[0]["votes"]):
            raise ValueError(f"round {round_index}: votes: got {len(result['votes'])} learners; expected "
                             f"{len(rounds[0]['votes'])}, as in round 0")
    return rounds


def check_not_empty(rounds: list) -> None:
    """Refuse results without a round: without the learners' initial scores there is nothing to continue."""
    if not rounds:
        raise ValueError("data: got no rounds; expected at least the learners' initial scores")


def is_number(value: Any) -> bool:
    """True for an int or a float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def scores(where: str, name: str, values: Any) -> list[float]:
    """A list of scores: numbers, or ``None`` (a NaN written by ``save``) read as NaN."""
    if not isinstance(values, list):
        raise ValueError(f"{where}: {name}: got {values!r}; expected a list of numbers (null for NaN)")
    for i, value in enumerate(values):
        if value is not None and not is_number(value):
            raise ValueError(f"{where}: {name}[{i}]: got {value!r}; expected a number or null (NaN)")
    return [math.nan if value is None else float(value) for value in values]


def summaries(where: str, values: Any) -> list[Any]:
    """Training summaries: free-form, except that a privacy budget holds numbers (``None`` read as NaN)."""
    if not isinstance(values, list):
        raise ValueError(f"{where}: training_summaries: got {values!r}; expected a list")
    keys = ("target_epsilon", "consumed_epsilon", "target_delta", "consumed_delta")
    checked = []
    for i, summary in enumerate(values):
        if isinstance(summary, dict) and "dp_budget" in summary:
            name, budget = f"training_summaries[{i}]['dp_budget']", summary["dp_budget"]
            if not isinstance(budget, dict) or not all(key in budget for key in keys):
                raise ValueError(f"{where}: {name}: got {budget!r}; expected a dict with {', '.join(keys)}")
            numbers_read = scores(where, name, [budget[key] for key in keys])
            summary = {**summary, "dp_budget": {**budget, **dict(zip(keys, numbers_read, strict=True))}}
        checked.append(summary)
    return checked


def votes_of(where: str, votes: Any) -> list[bool | None]:
    """A round's votes: a list of true, false or null."""
    if not isinstance(votes, list):
        raise ValueError(f"{where}: votes: got {votes!r}; expected a list of true, false or null")
    for i, each in enumerate(votes):
        if each is not None and not isinstance(each, bool):
            raise ValueError(f"{where}: votes[{i}]: got {each!r}; expected true, false or null")
    return list(votes)


def is_learner_index(value: Any, n_learners: int) -> bool:
    """True when ``value`` is a learner's index, an integer in [0, n_learners - 1]."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n_learners


def checked_round(round_index: int, r: Any, field_names: set[str]) -> dict[str, Any]:
    """One round's ``Result`` fields from ``asdict`` data, each checked; errors name the round and field."""
    where = f"round {round_index}"
    if not isinstance(r, dict):
        raise ValueError(f"{where}: got {type(r).__name__}; expected a dict of Result fields")
    unknown = sorted(set(r) - field_names)
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown}; expected only Result's fields")
    vote, proposer = r.get("vote", False), r.get("block_proposer")
    if not isinstance(vote, bool):
        raise ValueError(f"{where}: vote: got {vote!r}; expected true or false")
    votes = votes_of(where, r.get("votes", []))
    vote_scores = scores(where, "vote_scores", r.get("vote_scores", []))
    test_scores = scores(where, "test_scores", r.get("test_scores", []))
    if not votes:
        raise ValueError(f"{where}: votes: got no learners; "
                         "expected one vote (true, false or null) per learner")
    if not len(votes) == len(vote_scores) == len(test_scores):
        raise ValueError(f"{where}: votes, vote_scores and test_scores: got {len(votes)}, {len(vote_scores)} "
                         f"and {len(test_scores)} entries; expected one per learner in each")
    if proposer is not None and not is_learner_index(proposer, len(votes)):
        raise ValueError(f"{where}: block_proposer: got {proposer!r}; expected null (no proposal) or a "
                         f"learner's index, an integer in [0, {len(votes) - 1}]")
    errors = r.get("errors", [])
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise ValueError(f"{where}: errors: got {errors!r}; expected a list of strings")
    return {"vote": vote, "votes": votes, "vote_scores": vote_scores, "test_scores": test_scores,
            "training_summaries": summaries(where, r.get("training_summaries", [])),
            "block_proposer": proposer, "errors": list(errors),
            "missing": missing_learners(where, r.get("missing", []), len(votes)),
            **teacher_controls(where, r.get("vote_threshold"), r.get("attacks", []), len(votes))}


def teacher_controls(where: str, vote_threshold: Any, attacks: Any, n_learners: int) -> dict[str, Any]:
    """``vote_threshold`` (null or a number in [0, 1]) and ``attacks`` (none, or one per learner: null or a
    string) of a class round the teacher controlled."""
    if vote_threshold is not None and not (is_number(vote_threshold) and 0 <= vote_threshold <= 1):
        raise ValueError(f"{where}: vote_threshold: got {vote_threshold!r}; expected null or a number in "
                         "[0, 1]")
    if not isinstance(attacks, list) or len(attacks) not in (0, n_learners) or \
            not all(attack is None or isinstance(attack, str) for attack in attacks):
        raise ValueError(f"{where}: attacks: got {attacks!r}; expected [] or one entry per learner, null or "
                         "an attack's name")
    return {"vote_threshold": vote_threshold, "attacks": list(attacks)}


def missing_learners(where: str, values: Any, n_learners: int) -> list[int]:
    """``missing``: learners' indices, each in [0, n_learners - 1] (older files have none: ``[]``)."""
    if not isinstance(values, list) or not all(is_learner_index(v, n_learners) for v in values):
        raise ValueError(f"{where}: missing: got {values!r}; expected a list of learners' indices, integers "
                         f"in [0, {n_learners - 1}]")
    return list(values)
