"""One round of the collective-learning protocol, run in this process.

Taught in notebook 05, which writes the round out and checks it against this one.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .accept import AcceptFailed, accept_or_roll_back
from .checks import check_n_learners, check_on_error, check_round_index, check_vote_threshold
from .interface import MachineLearningInterface, ProposedWeights, Weights
from .weights import weights_are_finite


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
    A proposal holding a NaN or an infinity is rejected untested, every vote no, the reason in
    the proposer's ``error``. An accepted proposal is accepted by every learner, those that
    abstained too, so all end on the same weights; if any accept fails (an error, Ctrl-C), every
    learner gets its weights back (``accept_everywhere``) and the error is raised, or with
    ``on_error="abstain"`` the proposal counts as rejected, the error kept in that learner's ``error``.
    """
    check_round_index(round_index)
    check_n_learners(learners)
    check_vote_threshold(vote_threshold)
    check_on_error(on_error)
    proposer = round_index % len(learners)
    with blame(proposer, round_index, "proposing"):
        proposal = learners[proposer].mli_propose_weights()
    with counted_when_the_round_completes(learners[proposer]):
        if not weights_are_finite(proposal.weights):
            return refuse_non_finite(proposal, len(learners), proposer, round_index), False

        proposed_weights_list = [score_proposal(learner, i, proposal, round_index, on_error, i != proposer)
                                 for i, learner in enumerate(learners)]
        proposed_weights_list[proposer].vote = None

        vote = is_accepted([pw.vote for pw in proposed_weights_list], vote_threshold)
        if vote:
            vote = accept_everywhere_or_abstain(learners, proposal, round_index, on_error,
                                                proposed_weights_list)
        return proposed_weights_list, vote


@contextmanager
def counted_when_the_round_completes(proposer: Any) -> Iterator[None]:
    """If the round fails or is interrupted (Ctrl-C), the proposer forgets its proposal, then it is raised.

    Running the round again then proposes alike (the same random stream, optimizer state and budget).
    """
    try:
        yield
    except BaseException:
        forget = getattr(proposer, "forget_last_proposal", None)
        if callable(forget):
            forget()
        raise


def is_accepted(votes: Sequence[object], vote_threshold: float) -> bool:
    """The rule: ``approves >= (n_learners - 1) * vote_threshold``, where only True counts as approving.

    >>> is_accepted([None, True, False, True, False], 0.5), is_accepted([None, True, False], 1.0)
    (True, False)
    """
    approves = sum(vote is True for vote in votes)
    return approves >= (len(votes) - 1) * vote_threshold


def refuse_non_finite(proposal: Weights, n_learners: int, proposer: int,
                      round_index: int) -> list[ProposedWeights]:
    """Every learner's answer to a proposal with NaN or infinite weights: no, unscored, the reason kept."""
    reason = (f"learner {proposer}'s proposal in round {round_index} holds NaN or infinite weights "
              "(its training diverged): rejected without testing")
    return [ProposedWeights(weights=proposal, vote_score=math.nan, test_score=math.nan,
                            vote=None if i == proposer else False, error=reason if i == proposer else None)
            for i in range(n_learners)]


def score_proposal(learner: MachineLearningInterface, learner_index: int, proposal: Weights, round_index: int,
                  on_error: str, voter: bool = True) -> ProposedWeights:
    """The learner's test of the proposal; a failure raises, or abstains as a no vote with the error kept.

    A voter's score that is not a number is kept as its error too (``unscored_vote``).
    """
    try:
        with blame(learner_index, round_index, "testing the proposal"):
            answer = learner.mli_test_weights(proposal)
    except LearnerError as exc:
        if on_error == "raise":
            raise
        return ProposedWeights(weights=proposal, vote_score=math.nan, test_score=math.nan, vote=False,
                               error=str(exc))
    if voter:
        answer.error = answer.error or unscored_vote(learner_index, answer.vote_score, round_index)
    return answer


def unscored_vote(learner_index: int, vote_score: Any, round_index: int) -> str | None:
    """Why a vote cannot mean anything: a vote score that is not a finite number (else ``None``).

    Warns once per learner: such a learner votes no on every proposal until its scores are numbers.

    >>> unscored_vote(1, 0.9, 3) is None
    True
    """
    if isinstance(vote_score, (int, float)) and math.isfinite(vote_score):
        return None
    reason = (f"learner {learner_index} scored the proposal {vote_score!r} on its vote data in round "
              f"{round_index}, not a number: counted as a no vote")
    warnings.warn(f"learner {learner_index} scores proposals as {vote_score!r} on its vote data, so it "
                  "votes no on every one: check its vote_criterion and vote data (an AUC needs both "
                  "classes in the vote data); Result.errors says which rounds", stacklevel=2)
    return reason


def accept_everywhere_or_abstain(learners: Sequence[MachineLearningInterface], proposal: Weights,
                                 round_index: int, on_error: str, answers: Sequence[ProposedWeights]) -> bool:
    """``accept_everywhere``; with ``on_error="abstain"`` a learner's failure rejects the proposal instead.

    Returns whether the proposal was accepted; a rejection keeps the error in the learner's answer.
    A rollback that did not restore every learner is raised whatever ``on_error`` says.
    """
    try:
        accept_everywhere(learners, proposal, round_index)
    except LearnerError as exc:
        cause = exc.__context__
        if on_error == "raise" or not isinstance(cause, AcceptFailed) or cause.not_restored:
            raise
        answer = answers[exc.learner_index]
        answer.error = f"{answer.error}; then {exc}" if answer.error else str(exc)
        return False
    return True


def accept_everywhere(learners: Sequence[MachineLearningInterface], proposal: Weights,
                      round_index: int) -> None:
    """Every learner accepts; if one fails (an error, Ctrl-C), every learner gets its old weights back.

    An error is raised as a ``LearnerError`` naming the learner; Ctrl-C is raised again after the rollback.
    See ``accept_or_roll_back`` for what is guaranteed.
    """
    try:
        accept_or_roll_back(learners, proposal)
    except AcceptFailed as failed:
        raise LearnerError(f"learner {failed.learner_index} failed in round {round_index} while accepting "
                           f"the proposal: {failed.cause}; {failed.rollback}", failed.learner_index,
                           round_index) from failed.cause
