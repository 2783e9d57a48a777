"""Save every learner's state and the results, and resume exactly where a run stopped.

No notebook teaches it yet; README's "Experiments that survive" does.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..protocol.interface import Weights
from ..protocol.results import Results

FORMAT = "colearn_nb checkpoint 4"  # 4: a digest of everything saved, checked before loading
# numpy arrays and scalars of bools and numbers (e.g. a scikit-learn learner's weights), nothing else:
# the functions numpy pickles them with, np.ndarray, np.dtype and its classes (numpy >= 1.25)
NUMPY_GLOBALS: list[Any] = list(dict.fromkeys([
    np.zeros(1).__reduce__()[0], np.float64(0).__reduce__()[0], np.ndarray, np.dtype,
    *(type(np.dtype(code)) for code in "?bhilqBHILQefdgFDG")]))


def save_checkpoint(path: str | Path, learners: Sequence, results: Results) -> None:
    """Write learners' states (model, optimizer, vote score, shuffling), torch's RNG state and ``results``.

    The next round to run is ``len(results) - 1`` (``results`` starts with the initial result).
    Loaders without a generator of their own (e.g. a plain ``DataLoader``) shuffle with torch's
    global RNG, which is saved too.
    """
    for i, learner in enumerate(learners):
        if not hasattr(learner, "state_dict"):
            raise TypeError(f"learners: learner {i} ({type(learner).__name__}) has no state_dict(); "
                            "only learners with state_dict/load_state_dict (e.g. PytorchLearner) "
                            "can be saved")
    saved = {"format": FORMAT, "learners": [learner.state_dict() for learner in learners],
             "torch_rng": torch.get_rng_state(), "results": results.to_json()}
    torch.save({**saved, "sha256": content_digest(saved)}, path)


def content_digest(value: Any) -> str:
    """A SHA-256 of the content of ``value``: dicts, lists, tensors and arrays (bytes, dtype, shape), scalars.

    >>> content_digest({"w": torch.zeros(2)}) == content_digest({"w": torch.zeros(2)})
    True
    >>> content_digest({"w": torch.zeros(2)}) == content_digest({"w": torch.tensor([0.0, 1e-30])})
    False
    """
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, dict):
        digest.update(f"dict{len(value)}".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        digest.update(f"tensor{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, np.ndarray):
        digest.update(f"array{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).tobytes())
    else:
        digest.update(f"{type(value).__name__}:{value!r}".encode())


def _read(path: str | Path) -> tuple[dict, Results]:
    """The checkpoint at ``path`` and its results; only tensors, plain data and numpy arrays are unpickled."""
    try:
        with torch.serialization.safe_globals(NUMPY_GLOBALS):
            saved = torch.load(path, weights_only=True)
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
            raise ValueError(f"format: got {found!r}; expected {FORMAT!r}")
        if not isinstance(saved["learners"], list) or not isinstance(saved["torch_rng"], torch.Tensor):
            raise ValueError("learners or torch_rng: got other types; expected a list and a tensor")
        if saved.pop("sha256", None) != content_digest(saved):
            raise ValueError("sha256: what the file holds is not what was saved (the file was changed or "
                             "damaged after saving)")
        return saved, Results.from_dict(json.loads(saved["results"]))
    except Exception as exc:
        raise ValueError(f"path: {str(path)!r} is not a colearn_nb checkpoint this version reads ({exc}); "
                         "nothing was changed") from exc


def _check_learner(learner: Any, state: Any) -> None:
    """Raise when ``state`` does not fit ``learner``: its ``check_state_dict``, else ``check_weights``."""
    if callable(getattr(learner, "check_state_dict", None)):
        learner.check_state_dict(state)
    elif isinstance(state, dict) and "model" in state:
        learner.check_weights(Weights(weights=state["model"]))


def load_checkpoint(path: str | Path, learners: Sequence) -> Results:
    """Restore ``learners`` from ``path`` (never unpickling arbitrary objects) and return the saved results.

    Every check runs before any learner changes: a corrupt or mismatched file changes nothing.
    """
    saved, results = _read(path)
    if len(saved["learners"]) != len(learners):
        raise ValueError(f"learners: the checkpoint holds {len(saved['learners'])} learners "
                         f"but {len(learners)} were given; nothing was changed")
    for i, (learner, state) in enumerate(zip(learners, saved["learners"], strict=True)):
        try:
            _check_learner(learner, state)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"learner {i}: the checkpoint does not fit ({exc}); build the learners as "
                             "when saving; nothing was changed") from exc
    for learner, state in zip(learners, saved["learners"], strict=True):
        learner.load_state_dict(state)
    torch.set_rng_state(saved["torch_rng"])
    return results
