"""Argument checks that name the parameter, the value given and what is accepted (every layer uses these).

Every message has one form: ``name: got VALUE; expected WHAT``. Bools are refused where a number is
expected, and so are NaN and infinities.

No notebook teaches it: it gives every notebook its error messages.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence, Sized
from typing import Any


def _bounds(minimum: float | None, maximum: float | None, low_open: bool, high_open: bool) -> str:
    if minimum is not None and maximum is not None:
        return f" in {'(' if low_open else '['}{minimum:g}, {maximum:g}{')' if high_open else ']'}"
    if minimum is not None:
        return f" {'>' if low_open else '>='} {minimum:g}"
    if maximum is not None:
        return f" {'<' if high_open else '<='} {maximum:g}"
    return ""


def _within(value: float, minimum: float | None, maximum: float | None, low_open: bool,
            high_open: bool) -> bool:
    above = minimum is None or (value > minimum if low_open else value >= minimum)
    below = maximum is None or (value < maximum if high_open else value <= maximum)
    return above and below


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None,
              hint: str = "") -> int:
    """Return ``value`` as an ``int`` when it is an integer (not a bool) within the bounds; else raise.

    >>> check_int("n_rounds", 3, minimum=0)
    3
    >>> check_int("n_rounds", True, minimum=0)
    Traceback (most recent call last):
    ValueError: n_rounds: got True; expected an integer >= 0
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not _within(int(value), minimum, maximum, False, False):
        raise ValueError(f"{name}: got {value!r}; "
                         f"expected an integer{_bounds(minimum, maximum, False, False)}{hint}")
    return int(value)


def check_number(name: str, value: Any, minimum: float | None = None, maximum: float | None = None,
                 low_open: bool = False, high_open: bool = False, hint: str = "") -> float:
    """Return ``value`` as a ``float`` when it is a finite real number (no bool) in the bounds; else raise.

    >>> check_number("vote_threshold", 0.5, 0, 1)
    0.5
    >>> check_number("vote_threshold", float("nan"), 0, 1, hint=", e.g. 0.5")
    Traceback (most recent call last):
    ValueError: vote_threshold: got nan; expected a number in [0, 1], e.g. 0.5
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not _within(float(value), minimum, maximum, low_open, high_open):
        bounds = _bounds(minimum, maximum, low_open, high_open)
        raise ValueError(f"{name}: got {value!r}; expected a number{bounds}{hint}")
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` when it is one of ``choices``; else raise, listing them."""
    if not isinstance(value, str) or value not in choices:
        listed = (", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}" if len(choices) > 1
                  else repr(choices[0]))
        raise ValueError(f"{name}: got {value!r}; expected {listed}")
    return value


def check_n_learners(learners: Sized) -> None:
    """Refuse fewer than 2 learners."""
    if len(learners) < 2:
        raise ValueError(f"learners: got {len(learners)} learner(s); collective learning needs at least 2")


def check_vote_threshold(vote_threshold: Any) -> float:
    """A vote threshold in [0, 1]."""
    return check_number("vote_threshold", vote_threshold, 0, 1, hint=", e.g. 0.5")


def check_round_index(round_index: Any) -> int:
    """A round index: an integer >= 0."""
    return check_int("round_index", round_index, minimum=0)


def check_n_rounds(n_rounds: Any, minimum: int = 0) -> int:
    """A number of rounds: an integer >= ``minimum``."""
    return check_int("n_rounds", n_rounds, minimum=minimum)


def check_batches(name: str, value: Any) -> int | None:
    """A number of batches: an integer >= 1, or None for all batches."""
    return None if value is None else check_int(name, value, minimum=1, hint=", or None for all batches")


def check_on_error(on_error: Any) -> str:
    """An ``on_error`` policy: 'raise' or 'abstain'."""
    return check_choice("on_error", on_error, ("raise", "abstain"))
