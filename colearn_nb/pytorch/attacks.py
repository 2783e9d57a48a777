"""Bad actors: small wrappers that make a normal learner misbehave in one way.

Each wraps any ``MachineLearningInterface`` and changes one thing: what it proposes
(``RandomWeightsProposer``, ``SignFlipProposer``), what it trains on (``LabelFlipLearner``,
``BackdoorProposer``: a trigger pattern that turns any digit into ``target_label``) or how it votes
(``AlwaysNoVoter``, ``AlwaysYesVoter``, ``Colluder``: yes to its ring's proposals, honest otherwise).
Wrappers stack, e.g. ``AlwaysYesVoter(RandomWeightsProposer(learner))`` proposes garbage and approves
everything; ``Colluder(RandomWeightsProposer(learner))`` approves only its ring's garbage.

The two proposers change the weights themselves, so they need weights they can compute with: torch
tensors, numpy arrays, Python numbers, or dicts, lists and tuples of them (a ``PytorchLearner``'s state
dict, notebook 06's numpy arrays). Only floating-point entries change; the rest are kept as they are.
Anything else (e.g. a scikit-learn model object as the weights) is refused with a ``ValueError``.

Taught in notebook 09.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, cast

import numpy as np
import torch

from ..protocol.checks import check_int, check_number
from ..protocol.interface import MachineLearningInterface, ProposedWeights, Weights
from .batches import BatchReading, SplitBatch, describe, first_batch


class BadActor(MachineLearningInterface):
    """Behaves exactly like the wrapped ``learner``; subclasses change one method."""

    attack = "none"

    def __init__(self, learner: MachineLearningInterface):
        if not isinstance(learner, MachineLearningInterface):
            raise ValueError(f"learner: got {type(learner).__name__}; expected a MachineLearningInterface "
                             "(e.g. a PytorchLearner) to wrap")
        self.learner = learner

    def __getattr__(self, name: str) -> Any:  # vote_score, model, state_dict, ... of the wrapped learner
        if name == "learner":
            raise AttributeError(name)
        return getattr(self.learner, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.learner!r})"

    def mli_propose_weights(self) -> Weights:
        """The wrapped learner's proposal."""
        return self.learner.mli_propose_weights()

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """The wrapped learner's test and vote."""
        return self.learner.mli_test_weights(weights)

    def mli_accept_weights(self, weights: Weights) -> None:
        """The wrapped learner accepts."""
        self.learner.mli_accept_weights(weights)

    def mli_get_current_weights(self) -> Weights:
        """The wrapped learner's current weights."""
        return self.learner.mli_get_current_weights()

    def check_weights(self, weights: Weights) -> None:
        """The wrapped learner's check."""
        self.learner.check_weights(weights)

    def forget_last_proposal(self) -> None:
        """The wrapped learner forgets its last proposal (its round did not complete)."""
        self.learner.forget_last_proposal()


WEIGHT_KINDS = ("torch tensors, numpy arrays, numbers (strings and None are kept), or dicts, lists and "
                "tuples of them (e.g. a state dict or a list of numpy arrays)")


def _is_float(leaf: Any) -> bool:
    """Whether ``leaf`` is a floating-point tensor, array or number (the entries an attack changes)."""
    if isinstance(leaf, torch.Tensor):
        return leaf.is_floating_point()
    if isinstance(leaf, (np.ndarray, np.generic)):
        return np.issubdtype(leaf.dtype, np.floating)
    return isinstance(leaf, float)


def _is_leaf(value: Any) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray, np.generic, int, float, str, bytes)) or value is None


def _map_weights(wrapper: str, change: Callable[..., Any], keep: Callable[[Any], Any], first: Any,
                 *others: Any, path: str = "weights") -> Any:
    """Walk ``first`` (and ``others``, shaped alike): ``change`` the float entries, ``keep`` the rest.

    Raises ``ValueError`` naming ``wrapper``, where it is and the type found when it meets something else.
    """
    if isinstance(first, dict):
        for other in others:
            if not isinstance(other, dict) or other.keys() != first.keys():
                raise ValueError(f"{wrapper}: {path}: the proposal's keys differ from the current weights'; "
                                 "expected weights shaped alike")
        return {key: _map_weights(wrapper, change, keep, value, *(o[key] for o in others),
                                  path=f"{path}[{key!r}]") for key, value in first.items()}
    if isinstance(first, (list, tuple)):
        for other in others:
            if not isinstance(other, (list, tuple)) or len(other) != len(first):
                raise ValueError(f"{wrapper}: {path}: the proposal and the current weights have different "
                                 "entries; expected weights shaped alike")
        mapped = [_map_weights(wrapper, change, keep, value, *(o[i] for o in others), path=f"{path}[{i}]")
                  for i, value in enumerate(first)]
        return tuple(mapped) if isinstance(first, tuple) else mapped
    if not _is_leaf(first):
        raise ValueError(f"{wrapper}: {path}: got {type(first).__name__}; expected {WEIGHT_KINDS}; "
                         "this wrapper cannot change such weights")
    return change(first, *others) if _is_float(first) else keep(first)


def check_attackable(wrapper: str, weights: Any) -> None:
    """Raise ``ValueError`` (naming ``wrapper``, the type) where ``weights`` hold what it cannot change."""
    _map_weights(wrapper, lambda leaf: leaf, lambda leaf: leaf, weights)


def _copy(leaf: Any) -> Any:
    if isinstance(leaf, (torch.Tensor, np.ndarray)):
        return leaf.clone() if isinstance(leaf, torch.Tensor) else leaf.copy()
    return leaf


def _summary(attack: str, honest: Weights | None = None) -> dict[str, Any]:
    summary = dict(honest.training_summary) if honest and isinstance(honest.training_summary, dict) else {}
    summary["attack"] = attack
    return summary


class RandomWeightsProposer(BadActor):
    """Proposes random weights: every float entry drawn from a normal distribution with std ``scale``."""

    attack = "random weights"

    def __init__(self, learner: MachineLearningInterface, scale: float = 1.0, seed: int = 0):
        super().__init__(learner)
        self.scale = check_number("scale", scale, 0, low_open=True, hint=" (the std of the random weights)")
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
        check_attackable(type(self).__name__, learner.mli_get_current_weights().weights)

    def _random_like(self, leaf: Any) -> Any:
        """Normal noise with std ``scale``, of ``leaf``'s shape, type and dtype."""
        if isinstance(leaf, torch.Tensor):
            noise = torch.randn(leaf.shape, generator=self.generator) * self.scale
            return noise.to(leaf.dtype).to(leaf.device)
        drawn = torch.randn(np.shape(leaf), generator=self.generator, dtype=torch.float64) * self.scale
        if isinstance(leaf, float):
            return float(drawn)
        return np.asarray(drawn.numpy(), dtype=leaf.dtype) if isinstance(leaf, np.ndarray) \
            else leaf.dtype.type(drawn.item())

    def mli_propose_weights(self) -> Weights:
        """Random weights shaped like the current ones (floats only; other entries copied); does not train."""
        current = self.learner.mli_get_current_weights().weights
        garbage = _map_weights(type(self).__name__, self._random_like, _copy, current)
        return Weights(weights=garbage, training_summary=_summary(self.attack))


class SignFlipProposer(BadActor):
    """Trains honestly, then proposes the update reversed: ``current - scale * (trained - current)``."""

    attack = "sign-flipped update"

    def __init__(self, learner: MachineLearningInterface, scale: float = 5.0):
        super().__init__(learner)
        self.scale = check_number("scale", scale, 0, low_open=True,
                                  hint=" (how far to push against the update)")
        check_attackable(type(self).__name__, learner.mli_get_current_weights().weights)

    def _flip(self, trained: Any, current: Any) -> Any:
        """``current - scale * (trained - current)``, of ``trained``'s type and dtype."""
        flipped = current - self.scale * (trained - current)
        if isinstance(trained, np.ndarray):
            return np.asarray(flipped, dtype=trained.dtype)
        return trained.dtype.type(flipped) if isinstance(trained, np.generic) else flipped

    def mli_propose_weights(self) -> Weights:
        """The honest proposal, pushed the other way (floats only; other entries as proposed)."""
        current = self.learner.mli_get_current_weights().weights
        honest = self.learner.mli_propose_weights()
        flipped = _map_weights(type(self).__name__, self._flip, lambda leaf: leaf, honest.weights, current)
        return Weights(weights=flipped, training_summary=_summary(self.attack, honest))


class FlippedLabels:
    """A loader whose labels are mirrored: ``label -> n_classes - 1 - label``; batches read by ``reading``."""

    def __init__(self, loader: Any, n_classes: int, reading: BatchReading | None = None):
        self.loader, self.n_classes, self.reading = loader, n_classes, reading or BatchReading()

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:  # batch_size, generator, ... of the wrapped loader
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[SplitBatch]:
        for batch in self.loader:
            inputs, labels = self.reading.split(batch)
            yield SplitBatch(inputs, self.n_classes - 1 - labels)


class TrainsOnOtherData(BadActor):
    """Trains on ``poisoned(loader)`` instead of its own loader; proposes the result as usual.

    Wraps a learner with a ``train_loader`` attribute, such as a ``PytorchLearner``.
    """

    def __init__(self, learner: MachineLearningInterface):
        super().__init__(learner)
        if not hasattr(learner, "train_loader"):
            raise ValueError(f"learner: got {type(learner).__name__}, which has no train_loader to poison; "
                             "wrap a PytorchLearner")
        reading = getattr(learner, "batches", None)  # how a PytorchLearner reads its batches
        self.reading = reading if isinstance(reading, BatchReading) else BatchReading()

    def poisoned(self, loader: Any) -> Any:
        """The loader the attack trains on; subclasses say what changes."""
        raise NotImplementedError

    def mli_propose_weights(self) -> Weights:
        """Train on the poisoned loader; the learner's own loader is put back afterwards."""
        learner: Any = self.learner  # a learner with a train_loader attribute, checked in __init__
        honest_loader = learner.train_loader
        learner.train_loader = self.poisoned(honest_loader)
        try:
            proposal = learner.mli_propose_weights()
        finally:
            learner.train_loader = honest_loader
        return Weights(weights=proposal.weights, training_summary=_summary(self.attack, proposal))


class LabelFlipLearner(TrainsOnOtherData):
    """Trains on its data with every label mirrored (0 as 9, 1 as 8, ...); proposes the result as usual.

    Wraps a learner with a ``train_loader`` attribute, such as a ``PytorchLearner``.
    """

    attack = "flipped labels"

    def __init__(self, learner: MachineLearningInterface, n_classes: int = 10):
        super().__init__(learner)
        self.n_classes = check_int("n_classes", n_classes, minimum=2)

    def poisoned(self, loader: Any) -> FlippedLabels:
        """The learner's loader with mirrored labels."""
        return FlippedLabels(loader, self.n_classes, self.reading)


def add_trigger(inputs: torch.Tensor, size: int = 4, value: float = 1.0) -> torch.Tensor:
    """A copy of ``inputs`` (images: ``(..., height, width)``) with a ``size`` x ``size`` square of
    ``value`` one pixel in from the bottom-right corner: the backdoor's trigger.

    >>> add_trigger(torch.zeros(1, 6, 6), size=2)[0, 3:, 3:].tolist()
    [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    check_int("size", size, minimum=1)
    if inputs.dim() < 2 or min(inputs.shape[-2:]) < size + 1:
        raise ValueError(f"inputs: got shape {tuple(inputs.shape)}; expected images (..., height, width) "
                         f"larger than the {size}x{size} trigger")
    triggered = inputs.clone()
    triggered[..., -size - 1:-1, -size - 1:-1] = value
    return triggered


class BackdoorLoader:
    """``passes`` passes over ``loader``; every batch comes with triggered copies of a ``fraction`` of it,
    labelled ``target_label``; batches read by ``reading``, whose inputs must be one tensor of images."""

    def __init__(self, loader: Any, target_label: int, fraction: float, trigger_size: int = 4,
                 passes: int = 1, reading: BatchReading | None = None):
        self.loader, self.target_label, self.fraction = loader, target_label, fraction
        self.trigger_size, self.passes, self.reading = trigger_size, passes, reading or BatchReading()

    def __len__(self) -> int:
        return len(self.loader) * self.passes

    def __getattr__(self, name: str) -> Any:  # batch_size, generator, ... of the wrapped loader
        if name == "loader":
            raise AttributeError(name)
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[SplitBatch]:
        batches = (batch for _ in range(self.passes) for batch in self.loader)
        for batch in batches:
            inputs, labels = self.reading.split(batch)
            check_images("BackdoorProposer", inputs)
            n = max(1, round(len(labels) * self.fraction))  # batches are shuffled: the first n are random
            yield SplitBatch(torch.cat([inputs, add_trigger(inputs[:n], self.trigger_size)]),
                             torch.cat([labels, torch.full_like(labels[:n], self.target_label)]))


def check_images(wrapper: str, inputs: Any) -> None:
    """Raise ``ValueError`` naming ``wrapper`` unless ``inputs`` is one tensor (the trigger's images)."""
    if not isinstance(inputs, torch.Tensor):
        raise ValueError(f"{wrapper}: the learner's batches have inputs that are {describe(inputs)}; the "
                         "trigger is stamped on one tensor of images (..., height, width): wrap a learner "
                         "whose inputs_targets gives such inputs")


class BackdoorProposer(TrainsOnOtherData):
    """Trains on its data plus, in every batch, copies of a ``fraction`` of it stamped with a trigger and
    labelled ``target_label``: the model stays good on clean digits, and any digit with the trigger reads
    as ``target_label`` (a targeted attack; measure it with ``attack_success_rate``).

    ``passes=None`` trains as much as the learner would honestly; ``passes=3`` spends more effort than
    honest learners: three full passes over its data (needs a learner with ``num_train_batches``, such as
    a ``PytorchLearner``, which is set to all batches during the attack and put back afterwards).
    """

    attack = "backdoor"

    def __init__(self, learner: MachineLearningInterface, target_label: int = 0, fraction: float = 0.3,
                 trigger_size: int = 4, passes: int | None = None):
        super().__init__(learner)
        if passes is not None:
            check_int("passes", passes, minimum=1, hint=" or None (train as the learner would)")
            if not hasattr(learner, "num_train_batches"):
                raise ValueError(f"passes: got {passes} for a {type(learner).__name__}, which has no "
                                 "num_train_batches to lift; expected None, or wrap a PytorchLearner")
        self.passes = passes
        self.target_label = check_int("target_label", target_label, minimum=0)
        self.fraction = check_number("fraction", fraction, 0, 1, low_open=True,
                                     hint=" (the share of every batch copied with the trigger)")
        self.trigger_size = check_int("trigger_size", trigger_size, minimum=1)
        check_images(type(self).__name__, self.reading.split(first_batch(cast(Any, learner).train_loader))[0])

    def poisoned(self, loader: Any) -> BackdoorLoader:
        """The learner's loader with the trigger on a share of every batch."""
        return BackdoorLoader(loader, self.target_label, self.fraction, self.trigger_size, self.passes or 1,
                              self.reading)

    def mli_propose_weights(self) -> Weights:
        """Train on the poisoned data (all ``passes`` when given); the learner's settings are put back."""
        if self.passes is None:
            return super().mli_propose_weights()
        learner: Any = self.learner  # has num_train_batches, checked in __init__
        honest_batches, learner.num_train_batches = learner.num_train_batches, None
        try:
            return super().mli_propose_weights()
        finally:
            learner.num_train_batches = honest_batches


@torch.no_grad()
def attack_success_rate(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                        target_label: int = 0, trigger_size: int = 4) -> float:
    """Share of the digits not labelled ``target_label`` that ``model`` reads as ``target_label``
    once they carry the trigger (0: no backdoor; 1: every triggered digit hijacked).

    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(36, 2))
    >>> rate = attack_success_rate(model, torch.rand(8, 1, 6, 6), torch.tensor([0, 1] * 4), trigger_size=2)
    >>> 0.0 <= rate <= 1.0
    True
    """
    others = labels != target_label
    if not bool(others.any()):
        raise ValueError(f"labels: got only the target label {target_label}; expected other labels to attack")
    was_training = model.training
    model.eval()
    try:
        predicted = model(add_trigger(inputs[others], trigger_size)).argmax(dim=1)
    finally:
        model.train(was_training)
    return float((predicted == target_label).float().mean())


class FixedVoter(BadActor):
    """Tests proposals honestly but votes ``fixed_vote`` whatever the scores."""

    fixed_vote: bool

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """The honest scores with the vote replaced."""
        tested = self.learner.mli_test_weights(weights)
        tested.vote = self.fixed_vote
        return tested


class AlwaysNoVoter(FixedVoter):
    """Tests proposals honestly but always votes no."""

    attack, fixed_vote = "always votes no", False


class AlwaysYesVoter(FixedVoter):
    """Tests proposals honestly but always votes yes."""

    attack, fixed_vote = "always votes yes", True


class Colluder(BadActor):
    """One of a ring of learners: marks its proposals with ``ring`` and votes yes to every proposal so
    marked (a hidden agreement between its members); on everyone else's proposals it votes honestly.

    Stack it on a bad proposer, e.g. ``Colluder(RandomWeightsProposer(learner))``: the ring approves its
    own garbage.
    """

    attack = "colludes"

    def __init__(self, learner: MachineLearningInterface, ring: str = "ring"):
        super().__init__(learner)
        if not isinstance(ring, str) or not ring:
            raise ValueError(f"ring: got {ring!r}; expected a non-empty string naming the ring")
        self.ring = ring

    def mli_propose_weights(self) -> Weights:
        """The wrapped learner's proposal, marked as the ring's."""
        proposal = self.learner.mli_propose_weights()
        summary = dict(proposal.training_summary) if isinstance(proposal.training_summary, dict) else {}
        summary["ring"] = self.ring
        return Weights(weights=proposal.weights, training_summary=summary)

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """The honest scores; the vote is yes when the proposal is the ring's."""
        tested = self.learner.mli_test_weights(weights)
        summary = weights.training_summary
        if isinstance(summary, dict) and summary.get("ring") == self.ring:
            tested.vote = True
        return tested


def with_bad_actors(learners: Sequence[MachineLearningInterface], bad_actor_indices: Sequence[int],
                    bad_actor: type[BadActor], **options: Any) -> list[MachineLearningInterface]:
    """A new list: the learners at ``bad_actor_indices`` wrapped in ``bad_actor(learner, **options)``.

    >>> from colearn_nb.tutorial.factory import make_mnist_learners
    >>> learners = with_bad_actors(make_mnist_learners(n_learners=3), [2], AlwaysNoVoter)
    >>> [type(learner).__name__ for learner in learners]
    ['PytorchLearner', 'PytorchLearner', 'AlwaysNoVoter']
    """
    if not (isinstance(bad_actor, type) and issubclass(bad_actor, BadActor)):
        raise ValueError(f"bad_actor: got {bad_actor!r}; "
                         "expected a BadActor class, e.g. RandomWeightsProposer")
    for index in bad_actor_indices:
        check_int("bad_actor_indices", index, 0, len(learners) - 1, hint=" (a learner's index)")
    return [bad_actor(learner, **options) if i in set(bad_actor_indices) else learner
            for i, learner in enumerate(learners)]
