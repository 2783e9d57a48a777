"""The voting protocol with scripted learners (no torch)."""
import pytest
from scripted import ScriptedLearner

from colearn_nb import (
    LearnerError,
    collective_learning_round,
    initial_result,
    run_one_round,
    set_equal_weights,
)


def make_learners(n, votes):
    return [ScriptedLearner(i, votes) for i in range(n)]


@pytest.mark.parametrize("n_learners", range(2, 8))
@pytest.mark.parametrize("vote_threshold", [0, 0.5, 1])
def test_acceptance_rule_for_every_number_of_yes_votes(n_learners, vote_threshold):
    for n_yes in range(n_learners):  # learners other than the proposer voting yes
        for round_index in range(n_learners):
            proposer = round_index % n_learners
            others = [i for i in range(n_learners) if i != proposer]
            yes = set(others[:n_yes])
            learners = make_learners(n_learners,
                                     lambda i, w, yes=yes, proposer=proposer: i in yes or i == proposer)
            proposed, accepted = run_one_round(round_index, learners, vote_threshold)
            assert proposed[proposer].vote is None, "the proposer's vote must be void"
            assert [pw.vote for i, pw in enumerate(proposed) if i != proposer] == [i in yes for i in others]
            assert accepted == (n_yes >= (n_learners - 1) * vote_threshold)
            values = {learner.value for learner in learners}
            assert values == ({1} if accepted else {0}), "all learners accept or none does"


def test_proposer_rotates_and_every_learner_tests_once():
    learners = make_learners(3, lambda i, w: True)
    proposers = []
    for round_index in range(7):
        result = collective_learning_round(learners, 0.5, round_index)
        proposers.append(result.block_proposer)
        assert result.training_summaries == [{"by": result.block_proposer}]
    assert proposers == [0, 1, 2, 0, 1, 2, 0]
    for learner in learners:
        proposes = learner.calls.count("propose")
        assert learner.calls.count("test") == 7 and learner.calls.count("accept") == 7
        assert proposes == (3 if learner.index == 0 else 2)


def test_threshold_one_needs_every_other_learner():
    learners = make_learners(4, lambda i, w: i != 3)
    result = collective_learning_round(learners, 1.0, 0)
    assert result.votes == [None, True, True, False] and result.vote is False
    assert result.vote_scores == [1.0] * 4 and result.test_scores == [-1.0] * 4


def test_threshold_zero_accepts_with_no_yes_votes():
    learners = make_learners(3, lambda i, w: False)
    assert collective_learning_round(learners, 0, 1).vote is True


def test_initial_result_is_no_accepted_proposal_and_set_equal_weights():
    learners = make_learners(3, lambda i, w: False)
    learners[0].value = 5
    set_equal_weights(learners)
    assert [learner.value for learner in learners] == [5, 5, 5]
    result = initial_result(learners)
    assert result.votes == [True, True, True] and result.vote_scores == [5.0] * 3, "colearn's filler votes"
    assert result.vote is False and result.block_proposer is None, "as colearn 0.2.8: nothing accepted"


@pytest.mark.parametrize("kwargs, message", [
    (dict(round_index=-1), "round_index: got -1"),
    (dict(round_index=1.5), "round_index: got 1.5"),
    (dict(vote_threshold=1.5), "vote_threshold: got 1.5"),
    (dict(vote_threshold=-0.1), "vote_threshold: got -0.1"),
])
def test_bad_round_input_is_refused_before_anything_happens(kwargs, message):
    learners = make_learners(3, lambda i, w: True)
    args = dict(round_index=0, vote_threshold=0.5) | kwargs
    with pytest.raises(ValueError, match=message):
        run_one_round(args["round_index"], learners, args["vote_threshold"])
    assert all(learner.calls == [] for learner in learners)


def test_fewer_than_two_learners_is_refused():
    for call in (lambda learners: run_one_round(0, learners), initial_result, set_equal_weights):
        with pytest.raises(ValueError, match="got 1 learner"):
            call(make_learners(1, lambda i, w: True))


def test_a_failing_learner_is_named_and_nobody_accepts():
    def votes(i, w):
        if i == 2:
            raise RuntimeError("disk full")
        return True
    learners = make_learners(4, votes)
    with pytest.raises(LearnerError,
                       match="learner 2 failed in round 5 while testing the proposal: disk full"):
        run_one_round(5, learners)
    assert all(learner.value == 0 for learner in learners)


def test_rejected_proposals_leave_every_learner_where_it_was():
    # yes only for odd proposals: 0 -> 1 is accepted, then 1 -> 2 is proposed and rejected every round
    learners = make_learners(3, lambda i, w: w % 2 == 1)
    accepted = [collective_learning_round(learners, 1.0, r).vote for r in range(6)]
    assert accepted == [True, False, False, False, False, False]
    assert [learner.value for learner in learners] == [1, 1, 1]


def test_an_interrupt_while_accepting_rolls_every_learner_back_to_the_same_weights():
    learners = make_learners(4, lambda i, w: True)
    original_accept = learners[2].mli_accept_weights
    interrupted = []

    def accept_then_interrupt(weights):
        original_accept(weights)
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
    learners[2].mli_accept_weights = accept_then_interrupt
    with pytest.raises(KeyboardInterrupt):
        run_one_round(0, learners)
    assert [learner.value for learner in learners] == [0, 0, 0, 0]  # as before the round, which has no Result


def test_an_interrupt_while_testing_leaves_every_learner_unchanged():
    def votes(i, w):
        if i == 3:
            raise KeyboardInterrupt
        return True
    learners = make_learners(4, votes)
    with pytest.raises(KeyboardInterrupt):
        run_one_round(1, learners)
    assert [learner.value for learner in learners] == [0, 0, 0, 0]


def test_with_abstain_a_failing_learner_counts_as_no_and_its_error_is_recorded():
    def votes(i, w):
        if i == 2:
            raise RuntimeError("vote data unreadable")
        return True
    learners = make_learners(4, votes)
    result = collective_learning_round(learners, 1.0, 3, on_error="abstain")
    assert result.votes == [True, True, False, None] and result.vote is False
    assert result.errors == ["learner 2 failed in round 3 while testing the proposal: vote data unreadable"]
    assert [learner.value for learner in learners] == [0, 0, 0, 0]
    result = collective_learning_round(learners, 0.5, 3, on_error="abstain")
    assert result.vote is True and [learner.value for learner in learners] == [1, 1, 1, 1]


def test_unknown_on_error_is_refused():
    with pytest.raises(ValueError, match="on_error: got 'ignore'; expected 'raise' or 'abstain'"):
        run_one_round(0, make_learners(2, lambda i, w: True), on_error="ignore")
