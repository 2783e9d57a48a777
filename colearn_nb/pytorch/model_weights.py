"""A model's weights as ``PytorchLearner`` handles them: copied, checked, loaded, swapped in for a while.

Tied parameters (one tensor under two names) stay tied in every copy and every load.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

StateDict = dict[str, torch.Tensor]


def tied_names(model: torch.nn.Module) -> dict[str, str]:
    """Each state-dict name of a tensor listed before under another name (tied), with that first name.

    >>> shared = torch.nn.Linear(2, 2)
    >>> tied_names(torch.nn.Sequential(shared, shared))
    {'1.weight': '0.weight', '1.bias': '0.bias'}
    """
    first: dict[int, str] = {}
    tied = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        if isinstance(tensor, torch.Tensor) and first.setdefault(id(tensor), name) != name:
            tied[name] = first[id(tensor)]
    return tied


def state_copy(model: torch.nn.Module, tied: dict[str, str]) -> StateDict:
    """A copy of the model's state dict; ``tied`` names share one copied tensor, as in the model."""
    own = model.state_dict()
    if not tied:
        return {k: v.detach().clone() for k, v in own.items()}
    copies = {k: v.detach().clone() for k, v in own.items() if k not in tied}
    return {k: copies[tied.get(k, k)] for k in own}


def load_weights(model: torch.nn.Module, state: StateDict, tied: dict[str, str]) -> None:
    """Load ``state``; tied tensors take the value under their first name, as when swapped in."""
    if tied:
        state = {**state, **{alias: state[name] for alias, name in tied.items()}}
    model.load_state_dict(state)


def check_weights_fit(model: torch.nn.Module, given: object) -> None:
    """Raise ``ValueError`` naming the key and both shapes when ``given`` does not fit ``model``."""
    own = model.state_dict()
    if not isinstance(given, dict):
        raise ValueError(f"weights: got {type(given).__name__}; expected a state dict of tensors "
                         "as made by mli_get_current_weights(); the learner's weights are unchanged")
    missing, extra = sorted(own.keys() - given.keys()), sorted(given.keys() - own.keys())
    if missing or extra:
        raise ValueError(f"weights do not fit this learner's model: missing keys {missing}, "
                         f"unexpected keys {extra}; the learner's weights are unchanged")
    for key, tensor in own.items():
        if tuple(given[key].shape) != tuple(tensor.shape):
            raise ValueError(f"weights do not fit this learner's model: key {key!r} has shape "
                             f"{tuple(given[key].shape)} in the weights but {tuple(tensor.shape)} "
                             "in the model; the learner's weights are unchanged")


@contextmanager
def weights_swapped_in(model: torch.nn.Module, state: StateDict) -> Iterator[None]:
    """Let ``model`` compute with the tensors of ``state`` inside the block, without copying them."""
    own = {name: t for name, t in [*model.named_parameters(), *model.named_buffers()] if name in state}
    saved = {name: tensor.data for name, tensor in own.items()}
    try:
        for name, tensor in own.items():
            tensor.data = state[name].to(device=tensor.device, dtype=tensor.dtype)
        yield
    finally:
        for name, tensor in own.items():
            tensor.data = saved[name]
