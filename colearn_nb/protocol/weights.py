"""Looking inside a learner's weights without knowing its framework: finite, equal, the same layout.

Weights may be dicts, lists or tuples of numbers, torch tensors or numpy arrays; numpy is imported
only when an array is met, so the protocol stays free of it. Notebook 05 explains why a round checks
that a proposal is finite.
"""
from __future__ import annotations

import cmath
import numbers
from collections.abc import Callable, Mapping
from typing import Any


def _is_numpy(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "numpy"


def weights_are_finite(weights: Any) -> bool:
    """False when ``weights`` hold a NaN or an infinity; walks dicts, lists, tuples, numbers and arrays.

    Arrays are tensors (their ``isfinite()`` method) and NumPy arrays; anything else counts as finite.

    >>> weights_are_finite({"w": [1.0, 2], "b": (3.0,)}), weights_are_finite({"w": [1.0, float("nan")]})
    (True, False)
    """
    if isinstance(weights, Mapping):
        return all(weights_are_finite(value) for value in weights.values())
    if isinstance(weights, (list, tuple)):
        return all(weights_are_finite(value) for value in weights)
    if isinstance(weights, numbers.Number):
        return cmath.isfinite(weights) if isinstance(weights, numbers.Complex) else True
    if callable(getattr(weights, "isfinite", None)):  # torch tensors
        return _array_is_finite(weights, lambda: weights.isfinite().all())
    if _is_numpy(weights):
        import numpy

        if weights.dtype == object:
            return all(weights_are_finite(value) for value in weights.flat)
        with numpy.errstate(all="ignore"):  # a sum that overflows is checked exactly, no warning needed
            return _array_is_finite(weights, lambda: numpy.isfinite(weights).all())
    return True


def _array_is_finite(array: Any, exact: Callable[[], Any]) -> bool:
    try:  # fast, one pass: a sum is finite only when no value is NaN or infinite (but it may overflow)
        if cmath.isfinite(complex(array.sum())):
            return True
    except Exception:  # noqa: BLE001 (no real sum: the exact check decides)
        pass
    try:
        return bool(exact())
    except Exception:  # noqa: BLE001 (text, or a method of that name doing something else: cannot tell)
        return True


def weights_equal(a: Any, b: Any) -> bool:
    """True when ``a`` and ``b`` hold the same values; walks like ``weights_are_finite`` (NaN equals nothing).

    >>> weights_equal({"w": [1.0, 2]}, {"w": [1.0, 2]}), weights_equal((1, 2), (1, 3))
    (True, False)
    """
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (isinstance(a, Mapping) and isinstance(b, Mapping) and a.keys() == b.keys()
                and all(weights_equal(a[key], b[key]) for key in a))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b)
                and all(weights_equal(x, y) for x, y in zip(a, b, strict=True)))
    try:
        if callable(getattr(a, "equal", None)):  # torch tensors
            return bool(a.equal(b))
        if _is_numpy(a) or _is_numpy(b):
            import numpy

            return bool(numpy.array_equal(a, b))
        return bool(a == b)
    except Exception:  # noqa: BLE001 (values that cannot be compared are not known to be equal)
        return False


def weights_mismatch(given: Any, own: Any, path: str = "weights") -> str | None:
    """Where ``given`` differs in layout from ``own`` (dict keys, lengths, shapes), or None when it fits.

    >>> weights_mismatch({"w": [1.0, 2.0]}, {"w": [1.0]})
    "weights['w'] has 2 entries but the learner's has 1"
    """
    kinds = ((Mapping, "a dict"), ((list, tuple), "a list or tuple"))
    for kind, name in kinds:
        if isinstance(own, kind) != isinstance(given, kind):
            kind_given = name if isinstance(given, kind) else f"of type {type(given).__name__}"
            kind_own = name if isinstance(own, kind) else f"of type {type(own).__name__}"
            return f"{path} is {kind_given} but the learner's is {kind_own}"
    if isinstance(own, Mapping):
        missing, extra = (sorted(map(str, own.keys() - given.keys())),
                          sorted(map(str, given.keys() - own.keys())))
        if missing or extra:
            return f"{path} has missing keys {missing} and unexpected keys {extra}"
        found = (weights_mismatch(given[key], own[key], f"{path}[{key!r}]") for key in own)
        return next((mismatch for mismatch in found if mismatch is not None), None)
    if isinstance(own, (list, tuple)):
        if len(given) != len(own):
            return f"{path} has {len(given)} entries but the learner's has {len(own)}"
        pairs = enumerate(zip(given, own, strict=True))
        found = (weights_mismatch(g, o, f"{path}[{i}]") for i, (g, o) in pairs)
        return next((mismatch for mismatch in found if mismatch is not None), None)
    shapes = getattr(given, "shape", None), getattr(own, "shape", None)
    if shapes[0] is not None and shapes[1] is not None and tuple(shapes[0]) != tuple(shapes[1]):
        return f"{path} has shape {tuple(shapes[0])} but the learner's has {tuple(shapes[1])}"
    return None
