"""One round of the collective-learning protocol, run in this process.

Taught in notebook 05, which writes the round out and checks it against this one.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from .checks import check_n_learners, check_on_error, check_round_index, check_vote_threshold
from .interface import MachineLearningInterface, ProposedWeights, Weights


class LearnerError(RuntimeError):
    """A learner failed during a round; the message names the learner, the round and the step."""

    def __init__(self, message: str, learner_index: int, round_index: int):
        super().__init__(message)
        self.learner_index, self.round_index = learner_index, round_index


@contextmanager
def blame(learner_index: int, round_index: int, step: str) -> Iterator[None]:
    """Re-raise any error inside as a ``LearnerError`` that names the learner, round and step."""
    try:
        yield
    except Exception as exc:
        raise LearnerError(f"learner {learner_index} failed in round {round_index} while {step}: {exc}",
                           learner_index, round_index) from exc


def run_one_round(round_index: int, learners: Sequence[MachineLearningInterface],
                  vote_threshold: float = 0.5, on_error: str = "raise") -> tuple[list[ProposedWeights], bool]:
    """Propose, let everyone test and vote, then all accept or none does.

    Returns every learner's ``ProposedWeights`` (the proposer's vote is ``None``) and
    whether the proposal was accepted. A learner failing to test raises a ``LearnerError``
    with every learner unchanged, or with ``on_error="abstain"`` counts as a no vote.
    """
    check_round_index(round_index)
    check_n_learners(learners)
    check_vote_threshold(vote_threshold)
    check_on_error(on_error)
    proposer = round_index % len(learners)
    with blame(proposer, round_index, "proposing"):
        proposal = learners[proposer].mli_propose_weights()

    proposed_weights_list = [score_proposal(learner, i, proposal, round_index, on_error)
                             for i, learner in enumerate(learners)]
    proposed_weights_list[proposer].vote = None

    vote = is_accepted([pw.vote for pw in proposed_weights_list], vote_threshold)
    if vote:
        accept_everywhere(learners, proposal, round_index)
    return proposed_weights_list, vote


def is_accepted(votes: Sequence[object], vote_threshold: float) -> bool:
    """The rule: ``approves >= (n_learners - 1) * vote_threshold``, where only True counts as approving.

    >>> is_accepted([None, True, False, True, False], 0.5), is_accepted([None, True, False], 1.0)
    (True, False)
    """
    approves = sum(vote is True for vote in votes)
    return approves >= (len(votes) - 1) * vote_threshold


def score_proposal(learner: MachineLearningInterface, learner_index: int, proposal: Weights, round_index: int,
                  on_error: str) -> ProposedWeights:
    """The learner's test of the proposal; a failure raises, or abstains as a no vote with the error kept."""
    try:
        with blame(learner_index, round_index, "testing the proposal"):
            return learner.mli_test_weights(proposal)
    except LearnerError as exc:
        if on_error == "raise":
            raise
        return ProposedWeights(weights=proposal, vote_score=math.nan, test_score=math.nan, vote=False,
                               error=str(exc))


def accept_everywhere(learners: Sequence[MachineLearningInterface], proposal: Weights,
                      round_index: int) -> None:
    """Every learner accepts; after an interrupt (Ctrl-C) the rest still accept, so all did or none did."""
    pending = list(range(len(learners)))
    try:
        while pending:
            with blame(pending[0], round_index, "accepting the proposal"):
                learners[pending[0]].mli_accept_weights(proposal)
            pending.pop(0)
    except KeyboardInterrupt:
        for i in pending:  # the interrupted learner accepts again, from the start
            learners[i].mli_accept_weights(proposal)
        raise
