"""Input checks that name the parameter, the value given and what is accepted."""
from __future__ import annotations

from typing import Any, Sized


def check_n_learners(learners: Sized) -> None:
    """Refuse fewer than 2 learners."""
    if len(learners) < 2:
        raise ValueError(f"learners: got {len(learners)} learner(s); collective learning needs at least 2")


def check_vote_threshold(vote_threshold: Any) -> None:
    """Refuse a vote threshold outside [0, 1]."""
    if not isinstance(vote_threshold, (int, float)) or not 0 <= vote_threshold <= 1:
        raise ValueError(f"vote_threshold: got {vote_threshold!r}; expected a number in [0, 1], e.g. 0.5")


def check_round_index(round_index: Any) -> None:
    """Refuse a negative or non-integer round index."""
    if not isinstance(round_index, int) or round_index < 0:
        raise ValueError(f"round_index: got {round_index!r}; expected an integer >= 0")


def check_positive_or_none(name: str, value: Any) -> None:
    """Refuse a batch count below 1 (None means all batches)."""
    if value is not None and (not isinstance(value, int) or value < 1):
        raise ValueError(f"{name}: got {value!r}; expected an integer >= 1, or None for all batches")


def check_n_rounds(n_rounds: Any) -> None:
    """Refuse a number of rounds that is not an integer >= 0."""
    if not isinstance(n_rounds, int) or isinstance(n_rounds, bool) or n_rounds < 0:
        raise ValueError(f"n_rounds: got {n_rounds!r}; expected an integer >= 0")


def check_on_error(on_error: Any) -> None:
    """Refuse an unknown ``on_error`` policy."""
    if on_error not in ("raise", "abstain"):
        raise ValueError(f"on_error: got {on_error!r}; expected 'raise' or 'abstain'")
