"""Save every learner's state and the results, and resume exactly where a run stopped.

No notebook teaches it yet; README's "Experiments that survive" does.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from ..protocol.results import Results

FORMAT = "colearn_nb checkpoint 1"


def save_checkpoint(path: str | Path, learners: Sequence, results: Results) -> None:
    """Write learners' states (model, optimizer, vote score, shuffling), torch's RNG state and ``results``.

    The next round to run is ``len(results) - 1`` (``results`` starts with the initial result).
    """
    for i, learner in enumerate(learners):
        if not hasattr(learner, "state_dict"):
            raise TypeError(f"learners: learner {i} ({type(learner).__name__}) has no state_dict(); "
                            "only learners with state_dict/load_state_dict (e.g. PytorchLearner) "
                            "can be saved")
    torch.save({"format": FORMAT, "learners": [learner.state_dict() for learner in learners],
                "torch_rng": torch.get_rng_state(), "results": json.dumps(results.to_dict())}, path)


def load_checkpoint(path: str | Path, learners: Sequence) -> Results:
    """Restore ``learners`` from ``path`` (never unpickling arbitrary objects) and return the saved results.

    Every check runs before any learner changes: a corrupt or mismatched file changes nothing.
    """
    try:
        saved = torch.load(path, weights_only=True)
        if saved.get("format") != FORMAT:
            raise ValueError(f"format {saved.get('format')!r}")
        results = Results.from_dict(json.loads(saved["results"]))
    except Exception as exc:
        raise ValueError(f"path: {str(path)!r} is not a colearn_nb checkpoint ({exc}); "
                         "nothing was changed") from exc
    if len(saved["learners"]) != len(learners):
        raise ValueError(f"learners: the checkpoint holds {len(saved['learners'])} learners "
                         f"but {len(learners)} were given; nothing was changed")
    for i, (learner, state) in enumerate(zip(learners, saved["learners"], strict=True)):
        try:
            learner.check_weights(type(learner.mli_get_current_weights())(weights=state["model"]))
        except ValueError as exc:
            raise ValueError(f"learner {i}: the checkpoint does not fit ({exc}); "
                             "nothing was changed") from exc
    for learner, state in zip(learners, saved["learners"], strict=True):
        learner.load_state_dict(state)
    torch.set_rng_state(saved["torch_rng"])
    return results
