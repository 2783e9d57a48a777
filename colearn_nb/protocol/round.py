"""One round of the collective-learning protocol, run in this process.

Taught in notebook 05, which writes the round out and checks it against this one.
"""
from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType, TracebackType

from .checks import check_n_learners, check_on_error, check_round_index, check_vote_threshold
from .interface import MachineLearningInterface, ProposedWeights, Weights, weights_are_finite, weights_equal


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
    abstained too (``on_error`` covers testing only), so all end on the same weights; if any
    accept fails (an error, Ctrl-C), every learner gets its weights back (``accept_everywhere``)
    and the error is raised.
    """
    check_round_index(round_index)
    check_n_learners(learners)
    check_vote_threshold(vote_threshold)
    check_on_error(on_error)
    proposer = round_index % len(learners)
    with blame(proposer, round_index, "proposing"):
        proposal = learners[proposer].mli_propose_weights()
    if not weights_are_finite(proposal.weights):
        return refuse_non_finite(proposal, len(learners), proposer, round_index), False

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


def refuse_non_finite(proposal: Weights, n_learners: int, proposer: int,
                      round_index: int) -> list[ProposedWeights]:
    """Every learner's answer to a proposal with NaN or infinite weights: no, unscored, the reason kept."""
    reason = (f"learner {proposer}'s proposal in round {round_index} holds NaN or infinite weights "
              "(its training diverged): rejected without testing")
    return [ProposedWeights(weights=proposal, vote_score=math.nan, test_score=math.nan,
                            vote=None if i == proposer else False, error=reason if i == proposer else None)
            for i in range(n_learners)]


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


class AcceptFailed(Exception):
    """A learner failed to accept and the learners were rolled back; ``rollback`` says how that went."""

    def __init__(self, learner_index: int, cause: BaseException, not_restored: list[str]):
        super().__init__(f"learner {learner_index} failed to accept: {cause}")
        self.learner_index, self.cause, self.not_restored = learner_index, cause, not_restored

    @property
    def rollback(self) -> str:
        """The rollback in words."""
        if not self.not_restored:
            return "every learner was rolled back to the weights it held before"
        return ("the other learners were rolled back to the weights they held before, but "
                + "; ".join(self.not_restored) + ": their weights may differ from the others'")


def accept_or_roll_back(learners: Sequence[MachineLearningInterface], weights: Weights,
                        indices: Sequence[int] | None = None) -> None:
    """Each learner (of ``indices``, default all) accepts ``weights``, or each gets its old weights back.

    Just before its accept, each learner's weights are copied (``mli_get_current_weights``). When an
    accept raises (or Ctrl-C interrupts it), every learner that got that far, the failing one
    included, accepts its copy again, and ``AcceptFailed`` is raised (Ctrl-C: ``KeyboardInterrupt``).
    A rollback accept that raises counts as done when the learner holds its copy anyway
    (``weights_equal``), else ``AcceptFailed`` names it. From the first failure to the end of the
    rollback, Ctrl-C waits and is raised after it (with Python's own Ctrl-C handler, in the main
    thread, as in plain Python and Jupyter; elsewhere Ctrl-C does not reach this code).
    """
    previous: list[tuple[int, Weights]] = []
    current = -1
    with HeldInterrupts() as interrupts:
        try:
            for current in range(len(learners)) if indices is None else indices:
                previous.append((current, learners[current].mli_get_current_weights()))
                learners[current].mli_accept_weights(weights)
        except BaseException as exc:
            interrupts.holding = True  # a further Ctrl-C waits for the rollback
            failed = AcceptFailed(current, exc, roll_back(learners, previous))
            if isinstance(exc, KeyboardInterrupt) or interrupts.held:
                if isinstance(exc, KeyboardInterrupt):
                    exc.add_note(f"Ctrl-C while learner {current} was accepting; {failed.rollback}")
                    raise
                interrupt = KeyboardInterrupt()
                interrupt.add_note(f"Ctrl-C during the rollback after learner {current} failed to accept "
                                   f"({type(exc).__name__}: {exc}); {failed.rollback}")
                raise interrupt from exc
            raise failed from exc


def roll_back(learners: Sequence[MachineLearningInterface],
              previous: Sequence[tuple[int, Weights]]) -> list[str]:
    """Each learner accepts its old weights again; returns, in words, the learners that do not hold them."""
    not_restored = []
    for i, old in previous:
        try:
            learners[i].mli_accept_weights(old)
        except BaseException as exc:  # noqa: BLE001 (a learner's accept raising anything: check its weights)
            if not holds(learners[i], old):
                not_restored.append(f"learner {i} could not be rolled back ({type(exc).__name__}: {exc})")
    return not_restored


def holds(learner: MachineLearningInterface, weights: Weights) -> bool:
    """Whether the learner's current weights equal ``weights`` (False when they cannot be read)."""
    try:
        return weights_equal(learner.mli_get_current_weights().weights, weights.weights)
    except Exception:  # noqa: BLE001
        return False


class HeldInterrupts:
    """Ctrl-C (SIGINT) raises until ``holding`` is set (the first Ctrl-C sets it), then waits for the end.

    Only with Python's own handler installed and in the main thread; otherwise it changes nothing.
    """

    def __init__(self) -> None:
        self.holding, self.held = False, False
        self._installed = False

    def __enter__(self) -> HeldInterrupts:
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            signal.signal(signal.SIGINT, self._on_interrupt)
            self._installed = True
        return self

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        if self.holding:
            self.held = True
            return
        self.holding = True
        raise KeyboardInterrupt

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        if self.held and not isinstance(exc, KeyboardInterrupt):
            raise KeyboardInterrupt("Ctrl-C pressed while the learners were rolled back, raised after it")
