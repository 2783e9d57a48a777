"""Learners without torch whose votes follow a script: for testing the protocol alone."""
from __future__ import annotations

from collections.abc import Callable

from colearn_nb import MachineLearningInterface, ProposedWeights, Weights


class ScriptedLearner(MachineLearningInterface):
    """Holds an integer as its weights; proposes current + 1; votes as ``votes(proposal_value)`` says."""

    def __init__(self, index: int, votes: Callable[[int, int], bool]):
        self.index, self.votes, self.value = index, votes, 0
        self.calls: list[str] = []

    def mli_propose_weights(self) -> Weights:
        self.calls.append("propose")
        return Weights(weights=self.value + 1, training_summary={"by": self.index})

    def mli_test_weights(self, weights: Weights) -> ProposedWeights:
        self.calls.append("test")
        return ProposedWeights(weights=weights, vote_score=float(weights.weights), test_score=-1.0,
                               vote=self.votes(self.index, weights.weights))

    def mli_accept_weights(self, weights: Weights) -> None:
        self.calls.append("accept")
        self.value = weights.weights

    def mli_get_current_weights(self) -> Weights:
        return Weights(weights=self.value)
