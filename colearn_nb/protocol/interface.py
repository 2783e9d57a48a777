"""The learner interface of collective learning and the data it exchanges.

Taught in notebooks 04 (PytorchLearner implements it) and 06 (a learner of your own).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from .weights import weights_mismatch


@dataclass
class Weights:
    """A learner's model weights, with an optional summary of the training that made them."""

    weights: Any
    training_summary: Any | None = None

    def __repr__(self) -> str:
        kind = type(self.weights).__name__
        size = len(self.weights) if hasattr(self.weights, "__len__") else "?"
        return f"Weights({kind} of {size} entries, training_summary={self.training_summary!r})"


@dataclass
class ProposedWeights:
    """What a learner says of a proposal: its vote score, test score and vote."""

    weights: Weights
    vote_score: float
    test_score: float
    vote: bool | None
    error: str | None = None  # set when the learner failed to test and abstained

    def __repr__(self) -> str:
        error = f", error={self.error!r}" if self.error else ""
        return (f"ProposedWeights(vote_score={self.vote_score:.4g}, "
                f"test_score={self.test_score:.4g}, vote={self.vote}{error})")


class MachineLearningInterface(abc.ABC):
    """What every learner implements to take part in collective learning.

    Contract: ``mli_propose_weights`` and ``mli_test_weights`` never change the
    learner's current weights; only ``mli_accept_weights`` does. When an accept fails
    somewhere, the round rolls back by accepting weights from ``mli_get_current_weights``
    again, so accepting must work with those too.
    """

    @abc.abstractmethod
    def mli_propose_weights(self) -> Weights:
        """Train from the current weights and return new ones; the current weights stay as they were."""

    @abc.abstractmethod
    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        """Score ``weights`` on this learner's vote and test data and vote on them; changes nothing."""

    @abc.abstractmethod
    def mli_accept_weights(self, weights: Weights) -> None:
        """Make ``weights`` this learner's current weights."""

    @abc.abstractmethod
    def mli_get_current_weights(self) -> Weights:
        """Return a copy of the current weights."""

    def check_weights(self, weights: Weights) -> None:
        """Raise ``ValueError`` when ``weights`` cannot be loaded by this learner.

        The default compares the layout with the current weights (``weights_mismatch``): dict keys,
        sequence lengths and array shapes. Override it to check more, or more cheaply.
        """
        mismatch = weights_mismatch(weights.weights, self.mli_get_current_weights().weights)
        if mismatch is not None:
            raise ValueError(f"weights do not fit this learner: {mismatch}; "
                             "the learner's weights are unchanged")

    def forget_last_proposal(self) -> None:
        """Undo what making the last proposal changed in this learner (its round did not complete).

        The round calls it when the round fails or is interrupted after ``mli_propose_weights``, so
        that running the round again proposes alike. The default does nothing: a learner whose
        proposals advance a state of their own (a random stream, an optimizer, a budget) overrides it.
        """
        return None
