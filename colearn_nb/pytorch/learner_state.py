"""A ``PytorchLearner``'s state beside its weights: what a checkpoint saves, and what an interrupted proposal
puts back (``save_checkpoint``/``load_checkpoint`` in ``checkpoint.py`` call the learner's ``state_dict``,
``check_state_dict`` and ``load_state_dict``, which are these functions).
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, cast

import torch

from ..protocol.interface import Weights
from .model_weights import load_weights, tied_names

if TYPE_CHECKING:
    from .learner import PytorchLearner

STATE_KEYS = {"model", "optimizer", "scheduler", "layout", "vote_score", "loaders", "training_stream"}


def own_generators(learner: PytorchLearner) -> list[tuple[str, torch.Generator]]:
    """The loaders' own shuffling generators; a loader without one shuffles with torch's global RNG."""
    loaders = [("train", learner.train_loader), ("vote", learner.vote_loader), ("test", learner.test_loader)]
    found = [(name, getattr(loader, "generator", None)) for name, loader in loaders]
    return [(name, generator) for name, generator in found if isinstance(generator, torch.Generator)]


def layout(learner: PytorchLearner) -> dict:
    """What a saved state must match: optimizer and scheduler types, parameter groups, generators."""
    groups = [[list(p.shape) for p in group["params"]] for group in learner.optimizer.param_groups]
    return {"optimizer": type(learner.optimizer).__name__, "param_groups": groups,
            "scheduler": type(learner.scheduler).__name__ if learner.scheduler is not None else None,
            "loader_generators": [name for name, _ in own_generators(learner)]}


def _describe_groups(groups: list[list[list[int]]]) -> str:
    return f"{len(groups)} parameter group(s) of {[len(group) for group in groups]} parameters"


def layout_difference(key: str, saved: object, own: object) -> str:
    """What differs between a saved layout entry and the learner's own, as "name: got X; expected Y"."""
    if key == "param_groups":
        saved_groups, own_groups = cast(list, saved), cast(list, own)
        if _describe_groups(saved_groups) != _describe_groups(own_groups):
            return (f"optimizer: got {_describe_groups(saved_groups)} in the checkpoint; "
                    f"expected {_describe_groups(own_groups)}, as this learner's optimizer has")
        return ("optimizer: got other parameter shapes in the checkpoint's parameter groups; "
                "expected those of this learner's optimizer")
    what = {"optimizer": "optimizer type", "scheduler": "scheduler type",
            "loader_generators": "loaders with their own generator"}[key]
    return f"{what}: got {saved!r} in the checkpoint; expected {own!r}, as this learner has"


def state_dict(learner: PytorchLearner) -> dict:
    """Model, optimizer and scheduler state, vote score and loader shuffling (tensors and plain data)."""
    return {"model": learner.mli_get_current_weights().weights, "optimizer": learner.optimizer.state_dict(),
            "scheduler": learner.scheduler.state_dict() if learner.scheduler is not None else None,
            "layout": layout(learner), "vote_score": learner.vote_score,
            "loaders": {name: generator.get_state() for name, generator in own_generators(learner)},
            "training_stream": learner.stream.state_dict(), "privacy_history": learner.training.history()}


def check_state_dict(learner: PytorchLearner, state: dict) -> None:
    """Raise ``ValueError`` saying what differs when ``state`` (from ``state_dict``) does not fit."""
    if not isinstance(state, dict) or not STATE_KEYS <= state.keys() or not isinstance(state["layout"], dict):
        found = sorted(state.keys()) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"state: got {found}; expected a PytorchLearner.state_dict() with keys "
                         f"{sorted(STATE_KEYS)} (saved by this colearn_nb version)")
    learner.check_weights(Weights(weights=state["model"]))
    learner.stream.check_state_dict(state["training_stream"])
    for key, own in layout(learner).items():
        if state["layout"].get(key) != own:
            raise ValueError(layout_difference(key, state["layout"].get(key), own))
    for name, generator in own_generators(learner):
        saved = state["loaders"].get(name)
        if not isinstance(saved, torch.Tensor) or saved.shape != generator.get_state().shape:
            raise ValueError(f"loaders: the {name} loader's generator state is not a generator state; "
                             "expected one saved by PytorchLearner.state_dict()")


def load_state_dict(learner: PytorchLearner, state: dict) -> None:
    """Restore what ``state_dict`` saved; checks everything first so a mismatch changes nothing."""
    check_state_dict(learner, state)
    load_weights(learner.model, state["model"], tied_names(learner.model))
    learner.optimizer.load_state_dict(state["optimizer"])
    if learner.scheduler is not None:
        learner.scheduler.load_state_dict(state["scheduler"])
    learner.vote_score = state["vote_score"]
    learner.stream.load_state_dict(state["training_stream"])
    for name, generator in own_generators(learner):
        generator.set_state(state["loaders"][name])
    learner.training.load_history(state.get("privacy_history", []))  # the epsilon spent stays spent


def training_snapshot(learner: PytorchLearner) -> dict:
    """What a proposal changes besides its copy of the weights: stream, optimizer, scheduler, budget."""
    optimizer = learner.optimizer
    return {"n_proposals": learner.stream.n_proposals,
            "optimizer": (optimizer.state if learner.need_reset_optimizer  # replaced, never changed
                          else copy.deepcopy(optimizer.state_dict())),
            "hyperparameters": [{key: copy.deepcopy(value) for key, value in group.items()
                                 if key != "params"} for group in optimizer.param_groups],
            "scheduler": None if learner.scheduler is None else copy.deepcopy(learner.scheduler.state_dict()),
            "loaders": {name: generator.get_state() for name, generator in own_generators(learner)},
            "privacy_history": learner.training.history()}


def restore_training(learner: PytorchLearner, before: dict) -> None:
    """Put back what ``training_snapshot`` saw, so the proposal can be made again alike."""
    learner.stream.n_proposals = before["n_proposals"]
    if learner.need_reset_optimizer:
        learner.optimizer.state = before["optimizer"]
    else:
        learner.optimizer.load_state_dict(before["optimizer"])
    for group, hyperparameters in zip(learner.optimizer.param_groups, before["hyperparameters"], strict=True):
        group.update(hyperparameters)  # a scheduler's step changed lr
    if learner.scheduler is not None:
        learner.scheduler.load_state_dict(before["scheduler"])
    for name, generator in own_generators(learner):
        generator.set_state(before["loaders"][name])
    learner.training.load_history(before["privacy_history"])
