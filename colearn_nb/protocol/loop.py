"""Rounds as ``Result`` records, and the one loop that runs them (notebook 05 writes it out).

``run_rounds`` is the loop every part of the kit uses: the live plot, the progress bar, the
dashboard and the demo are callbacks (``on_round``) on it, and nothing here displays anything.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .accept import AcceptFailed, accept_or_roll_back
from .checks import check_n_learners, check_n_rounds, check_on_error, check_round_index, check_vote_threshold
from .interface import MachineLearningInterface, ProposedWeights
from .results import Result, Results
from .round import blame, run_one_round


def set_equal_weights(learners: Sequence[MachineLearningInterface]) -> None:
    """Give every learner the first learner's weights, or refuse, naming the learner, with none changed.

    Every learner's ``check_weights`` runs first; a learner whose accept still fails (its check let
    the weights through) is named too, after every learner was rolled back (``accept_or_roll_back``).
    """
    check_n_learners(learners)
    weights = learners[0].mli_get_current_weights()
    for i, learner in enumerate(learners[1:], start=1):
        try:
            learner.check_weights(weights)
        except Exception as exc:  # a check raising KeyError or TypeError means the same as ValueError
            raise ValueError(f"learners: learner {i} has a different model from learner 0 ({_why(exc)}); "
                             "every learner needs the same architecture; no learner was changed") from exc
    try:
        accept_or_roll_back(learners, weights, indices=range(1, len(learners)))
    except AcceptFailed as failed:
        raise ValueError(f"learners: learner {failed.learner_index} failed to take learner 0's weights "
                         f"({_why(failed.cause)}); {failed.rollback}; every learner needs the same "
                         "architecture") from failed.cause


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def initial_result(learners: Sequence[MachineLearningInterface]) -> Result:
    """Every learner's scores of its current weights: the start, ``Results.data[0]``, before round 0.

    As colearn 0.2.8's: ``vote=False`` and ``block_proposer=None`` (no proposal, nothing accepted),
    ``votes`` all True (colearn's filler; prints and plots show no vote where ``block_proposer`` is None).
    """
    check_n_learners(learners)
    result = Result()
    for i, learner in enumerate(learners):
        with blame(i, 0, "scoring its initial weights"):
            scored = learner.mli_test_weights(learner.mli_get_current_weights())
        result.votes.append(True)
        result.vote_scores.append(scored.vote_score)
        result.test_scores.append(scored.test_score)
    return result


def collective_learning_round(learners: Sequence[MachineLearningInterface], vote_threshold: float,
                              round_index: int, on_error: str = "raise") -> Result:
    """One round of collective learning, as a ``Result`` (``on_error``: see ``run_one_round``).

    Arguments in colearn's order; colearn's ``run_one_round``, and so the kit's, takes
    ``(round_index, learners, vote_threshold)``.
    Fields as colearn 0.2.8's; the kit adds ``training_summaries``, the proposal's summary (where a
    privacy budget is printed from; colearn 0.2.8 has no such field), and ``errors``.
    """
    proposed_weights_list, vote = run_one_round(round_index, learners, vote_threshold, on_error)
    proposer = round_index % len(learners)
    return round_result(proposed_weights_list, vote, proposed_weights_list[proposer].weights.training_summary,
                        proposer)


def round_result(answers: Sequence[ProposedWeights], accepted: bool, summary: Any, proposer: int) -> Result:
    """The ``Result`` of a voting round from every learner's answer (the proposer's vote ``None``)."""
    return Result(vote=accepted, votes=[pw.vote for pw in answers],
                  vote_scores=[pw.vote_score for pw in answers],
                  test_scores=[pw.test_score for pw in answers],
                  training_summaries=[summary] if summary is not None else [], block_proposer=proposer,
                  errors=[pw.error for pw in answers if pw.error])


def individual_training_round(learners: Sequence[MachineLearningInterface], round_index: int) -> Result:
    """The baseline: every learner trains and accepts its own weights, no voting.

    As colearn 0.2.8's: ``vote=False``, ``block_proposer=None`` and ``votes`` all True (no vote
    took place; ``Results.shared_model_scores`` counts these scores as held). The kit adds the
    learners' training summaries (colearn 0.2.8 has no such field), so a privacy budget can be printed.
    """
    check_round_index(round_index)
    check_n_learners(learners)
    result = Result()
    for i, learner in enumerate(learners):
        with blame(i, round_index, "training alone"):
            weights = learner.mli_propose_weights()
            scored = learner.mli_test_weights(weights)
            learner.mli_accept_weights(weights)
        result.votes.append(True)
        result.vote_scores.append(scored.vote_score)
        result.test_scores.append(scored.test_score)
        if weights.training_summary is not None:
            result.training_summaries.append(weights.training_summary)
    return result


OnRound = Callable[[Results], Any]


def start_results(learners: Sequence[MachineLearningInterface], results: Results | None = None) -> Results:
    """Fresh ``Results`` from equal weights (round 0 scores them), or the given ones to continue."""
    if results is None:
        set_equal_weights(learners)
        return Results([initial_result(learners)])
    if not isinstance(results, Results) or not results.data:
        raise ValueError(f"results: got {results!r}; pass results=None to start from equal weights, "
                         "or Results returned by an earlier run to continue it")
    if results.n_learners != len(learners):
        raise ValueError(f"results: made by {results.n_learners} learners, but {len(learners)} were given; "
                         "continue a run with the learners that made it, or pass results=None to start anew")
    return results


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a notebook's stop button) stopped ``run_rounds``; ``results`` holds every completed round.

    The interrupted round left no trace: every learner holds the weights of the last completed round
    and its proposer forgot the proposal, so ``run_rounds(learners, n, results=stop.results)`` goes on
    exactly as if nothing had happened. In a notebook, ``colearn_nb.interrupted_results()`` returns them.
    """

    def __init__(self, results: Results):
        self.results = results
        super().__init__(f"stopped after {len(results) - 1} completed rounds; they are kept: "
                         "results = colearn_nb.interrupted_results() (or this exception's .results), then "
                         "run_rounds(learners, n_rounds, results=results) goes on where it stopped")


_interrupted: list[Results] = []


def interrupted_results() -> Results:
    """The completed rounds of the last ``run_rounds`` that Ctrl-C stopped (see ``RunInterrupted``).

    >>> interrupted_results()
    Traceback (most recent call last):
    LookupError: no run was interrupted in this session: run_rounds returns its Results when it ends
    """
    if not _interrupted:
        raise LookupError("no run was interrupted in this session: "
                          "run_rounds returns its Results when it ends")
    return _interrupted[-1]


def _callbacks(on_round: None | OnRound | Sequence[OnRound]) -> list[OnRound]:
    # Any: whatever was passed; each is checked to be callable below
    callbacks: list[Any] = ([] if on_round is None else list(on_round) if isinstance(on_round, (list, tuple))
                            else [on_round])
    for callback in callbacks:
        if not callable(callback):
            raise ValueError(f"on_round: got {callback!r}; "
                             "expected a function of the Results (or a list of them)")
    return callbacks


def run_rounds(learners: Sequence[MachineLearningInterface], n_rounds: int, vote_threshold: float = 0.5,
               results: Results | None = None, on_round: None | OnRound | Sequence[OnRound] = None,
               on_error: str = "raise") -> Results:
    """Run ``n_rounds`` rounds of collective learning; returns the ``Results``.

    Without ``results`` the learners first get equal weights and round 0 scores them; with
    ``results`` from an earlier call the rounds continue where it stopped. After every round each
    ``on_round(results)`` is called (a live plot, a progress bar, a print); one that returns
    ``False`` stops the loop. When the loop ends, however it ends, a callback with a ``finish``
    method gets ``finish(results)``. Ctrl-C raises ``RunInterrupted``, which keeps the completed rounds.

    >>> from colearn_nb.tutorial.factory import make_mnist_learners
    >>> results = run_rounds(make_mnist_learners(n_learners=2), n_rounds=2, on_round=lambda r: None)
    >>> len(results), results.data[-1].block_proposer
    (3, 1)
    """
    check_n_learners(learners)
    check_n_rounds(n_rounds)
    check_vote_threshold(vote_threshold)
    check_on_error(on_error)
    callbacks = _callbacks(on_round)
    results = start_results(learners, results)
    first_round = len(results) - 1
    try:
        for round_index in range(first_round, first_round + n_rounds):
            results.append(collective_learning_round(learners, vote_threshold, round_index, on_error))
            stop = [callback(results) is False for callback in callbacks]
            if any(stop):
                break
    except KeyboardInterrupt as interrupt:
        _interrupted[:] = [results]
        raise RunInterrupted(results) from interrupt
    finally:
        for callback in callbacks:
            if hasattr(callback, "finish"):
                callback.finish(results)
    return results
