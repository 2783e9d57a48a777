"""Round functions that turn the protocol into ``Result`` records."""
from __future__ import annotations

from typing import Sequence

from .checks import check_n_learners, check_round_index
from .ml_interface import MachineLearningInterface
from .results import Result
from .standalone_driver import blame, run_one_round


def set_equal_weights(learners: Sequence[MachineLearningInterface]) -> None:
    """Give every learner the first learner's weights; refuses before any learner changed."""
    check_n_learners(learners)
    weights = learners[0].mli_get_current_weights()
    for i, learner in enumerate(learners[1:], start=1):
        try:
            learner.check_weights(weights)
        except ValueError as exc:
            raise ValueError(f"learners: learner {i} has a different model from learner 0 ({exc}); "
                             "every learner needs the same architecture") from exc
    for learner in learners[1:]:
        learner.mli_accept_weights(weights)


def initial_result(learners: Sequence[MachineLearningInterface]) -> Result:
    """Every learner's scores of its current weights, all votes True: round 0 of ``Results``."""
    check_n_learners(learners)
    result = Result(vote=True)
    for i, learner in enumerate(learners):
        with blame(i, 0, "scoring its initial weights"):
            scored = learner.mli_test_weights(learner.mli_get_current_weights())
        result.votes.append(True)
        result.vote_scores.append(scored.vote_score)
        result.test_scores.append(scored.test_score)
    return result


def collective_learning_round(learners: Sequence[MachineLearningInterface], vote_threshold: float,
                              round_index: int, on_error: str = "raise") -> Result:
    """One round of collective learning, as a ``Result`` (``on_error``: see ``run_one_round``)."""
    proposed_weights_list, vote = run_one_round(round_index, learners, vote_threshold, on_error)
    proposer = round_index % len(learners)
    summary = proposed_weights_list[proposer].weights.training_summary
    return Result(vote=vote,
                  votes=[pw.vote for pw in proposed_weights_list],
                  vote_scores=[pw.vote_score for pw in proposed_weights_list],
                  test_scores=[pw.test_score for pw in proposed_weights_list],
                  training_summaries=[summary] if summary is not None else [],
                  block_proposer=proposer,
                  errors=[pw.error for pw in proposed_weights_list if pw.error])


def individual_training_round(learners: Sequence[MachineLearningInterface], round_index: int) -> Result:
    """The baseline: every learner trains and accepts its own weights, no voting."""
    check_round_index(round_index)
    check_n_learners(learners)
    result = Result(vote=True)
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
