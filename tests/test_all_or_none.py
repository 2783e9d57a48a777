"""All learners accept or none does: non-finite proposals, failing or interrupted accepts, mixed learners."""
import math
import os
import signal

import numpy as np
import pytest
import torch
from conftest import make_learner
from scripted import ScriptedLearner

from colearn_nb import (
    LearnerError,
    MachineLearningInterface,
    ProposedWeights,
    Weights,
    collective_learning_round,
    run_one_round,
    set_equal_weights,
)
from colearn_nb.protocol.weights import weights_are_finite, weights_equal, weights_mismatch


class NumpyLearner(MachineLearningInterface):
    """Weights ``(coef, intercept)`` as NumPy arrays, like notebook 06's; proposes coef + step, votes yes."""

    def __init__(self, step=1.0):
        self.coef, self.intercept, self.step = np.zeros((3, 4)), np.zeros(3), step

    def mli_propose_weights(self):
        return Weights(weights=(self.coef + self.step, self.intercept.copy()))

    def mli_test_weights(self, weights):
        return ProposedWeights(weights=weights, vote_score=1.0, test_score=1.0, vote=True)

    def mli_accept_weights(self, weights):
        self.coef, self.intercept = np.array(weights.weights[0]), np.array(weights.weights[1])

    def mli_get_current_weights(self):
        return Weights(weights=(self.coef.copy(), self.intercept.copy()))


def state(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


# -- proposals with NaN or infinite weights ---------------------------------------------------------------

def test_weights_are_finite_walks_dicts_sequences_numbers_tensors_and_arrays():
    nan, inf = float("nan"), float("inf")
    assert weights_are_finite({"a": [1.0, 2], "b": (torch.ones(3), np.ones(2)), "c": "text", "d": None})
    for bad in (nan, [1.0, inf], {"w": torch.tensor([1.0, nan])}, (np.array([1.0, -inf]),),
                {"w": {"deep": [np.float32(nan)]}}, complex(0, inf), torch.tensor(inf, dtype=torch.float16)):
        assert not weights_are_finite(bad), bad
    assert weights_are_finite(torch.arange(3)) and weights_are_finite(np.array(["a", "b"]))
    # the fast path (one sum) may overflow or drop an imaginary part: the exact check decides then
    assert weights_are_finite(torch.full((3,), 6e4, dtype=torch.float16))
    assert weights_are_finite(np.full(2, 1e308))
    assert not weights_are_finite(torch.tensor([1 + 1j, complex(0, inf)]))
    assert not weights_are_finite(np.array([1.0, None, nan], dtype=object))


def diverging_learners(seed_of_proposer=0):
    """An accuracy vote; learner 0 trains with lr=1e30, so its proposal is NaN and scores 0.56 on its data."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    proposer = make_learner(seed=seed_of_proposer, maximise=True, model=model,
                            optimizer=torch.optim.SGD(model.parameters(), lr=1e30))
    learners = [proposer] + [make_learner(seed=i, maximise=True) for i in (1, 2, 3)]
    set_equal_weights(learners)
    return learners


def test_a_diverged_pytorch_proposal_is_never_voted_in_and_the_result_says_why():
    learners = diverging_learners()
    before = [state(learner) for learner in learners]
    # before the fix: learner 3 voted yes (NaN logits argmax to class 0), 1 of 3 >= 3 * 0.3, all learners NaN
    result = collective_learning_round(learners, 0.3, 0)
    assert result.vote is False and result.votes == [None, False, False, False]
    assert result.errors == ["learner 0's proposal in round 0 holds NaN or infinite weights "
                             "(its training diverged): rejected without testing"]
    assert all(same(state(learner), b) for learner, b in zip(learners, before, strict=True))
    assert all(weights_are_finite(learner.mli_get_current_weights().weights) for learner in learners)


@pytest.mark.parametrize("vote_threshold", [0, 0.5, 1])
def test_a_numpy_proposal_with_an_infinity_is_rejected_whatever_the_threshold(vote_threshold):
    learners = [NumpyLearner(step=math.inf), NumpyLearner(), NumpyLearner()]
    proposed, accepted = run_one_round(0, learners, vote_threshold)
    assert accepted is False and [pw.vote for pw in proposed] == [None, False, False]
    assert "NaN or infinite weights" in proposed[0].error
    assert all(np.all(learner.coef == 0) for learner in learners)
    # a finite proposal from the same learners is still accepted
    learners[0].step = 1.0
    assert run_one_round(0, learners, vote_threshold)[1] is True
    assert all(np.all(learner.coef == 1) for learner in learners)


# -- an accept that fails or is interrupted -----------------------------------------------------------

def scripted(n=4):
    return [ScriptedLearner(i, lambda i, w: True) for i in range(n)]


@pytest.mark.parametrize("changes_itself", [True, False])
def test_a_failing_accept_rolls_every_learner_back_and_names_the_learner(changes_itself):
    learners = scripted()
    original_accept = learners[2].mli_accept_weights

    def accept_then_fail(weights):
        if changes_itself:
            original_accept(weights)
        raise RuntimeError("disk full")
    learners[2].mli_accept_weights = accept_then_fail
    with pytest.raises(LearnerError, match="learner 2 failed in round 0 while accepting the proposal: "
                                           "disk full; every learner was rolled back to the weights it held"):
        run_one_round(0, learners)
    assert [learner.value for learner in learners] == [0, 0, 0, 0]


def test_a_learner_that_cannot_be_rolled_back_is_named():
    learners = scripted()
    original_accept = learners[1].mli_accept_weights
    calls = []

    def accept_once(weights):
        calls.append(weights.weights)
        if len(calls) > 1:
            raise RuntimeError("read-only")
        original_accept(weights)
    learners[1].mli_accept_weights = accept_once
    learners[2].mli_accept_weights = lambda weights: (_ for _ in ()).throw(RuntimeError("disk full"))
    message = (r"learner 2 failed .*disk full; the other learners were rolled back.*"
               r"learner 1 could not be rolled back \(RuntimeError: read-only\)")
    with pytest.raises(LearnerError, match=message):
        run_one_round(0, learners)
    assert [learner.value for learner in learners] == [0, 1, 0, 0]


def test_with_abstain_a_learner_whose_vote_data_fails_leaves_nobody_moved():
    torch.manual_seed(0)
    learners = [make_learner(seed=i) for i in range(4)]
    set_equal_weights(learners)
    before, scores = [state(learner) for learner in learners], [learner.vote_score for learner in learners]

    class Broken:
        def __iter__(self):
            raise OSError("vote data unreadable")
    learners[1].vote_loader = Broken()
    # learner 1 abstains while testing; the proposal is accepted (threshold 0), so learner 1 must accept it
    # too, which scores on its vote data and fails: before the fix, learners 0 (and 1) had moved, 2 and 3 not.
    # Now every learner is rolled back and, as the learner abstains, the round counts as rejected.
    result = collective_learning_round(learners, 0, 0, on_error="abstain")
    assert result.vote is False and result.votes[1] is False and len(result.errors) == 1
    assert "learner 1 failed in round 0 while testing" in result.errors[0]
    assert ("learner 1 failed in round 0 while accepting the proposal: vote data unreadable; "
            "every learner was rolled back") in result.errors[0]
    with pytest.raises(LearnerError, match="learner 1 failed in round 0 while testing"):
        collective_learning_round(learners, 0, 0)  # on_error="raise" stops at the test
    assert all(same(state(learner), b) for learner, b in zip(learners, before, strict=True))
    assert [learner.vote_score for learner in learners[2:]] == scores[2:]
    assert learners[0].vote_score == scores[0]


@pytest.fixture
def terminal_ctrl_c():
    """Ctrl-C as in a terminal (Python's handler): a suite started in the background inherits it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def interrupt_here():
    """A real Ctrl-C: SIGINT to this process, handled by the handler in place (Python's, or the round's)."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(1000):  # the handler runs at the next bytecode boundaries
        pass


def test_a_second_ctrl_c_during_the_rollback_waits_for_it_to_end(terminal_ctrl_c):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    learners = scripted()
    accepts = {i: learner.mli_accept_weights for i, learner in enumerate(learners)}
    calls = {i: 0 for i in range(4)}

    def accept(i, weights):
        calls[i] += 1
        if i == 3 or (i == 1 and calls[i] == 2):  # before changing: learner 3 always, 1 in the rollback
            interrupt_here()
        accepts[i](weights)
        if i == 2 and calls[i] == 1:  # the first Ctrl-C, after learner 2 changed
            interrupt_here()
    for i, learner in enumerate(learners):
        learner.mli_accept_weights = lambda weights, i=i: accept(i, weights)
    # before the fix: after the first Ctrl-C learners 2 and 3 accepted again, 3's Ctrl-C escaped: [1, 1, 1, 0]
    with pytest.raises(KeyboardInterrupt) as raised:
        run_one_round(0, learners)
    assert [learner.value for learner in learners] == [0, 0, 0, 0]
    assert calls == {0: 2, 1: 2, 2: 2, 3: 0}
    assert raised.value.__notes__ == ["Ctrl-C while learner 2 was accepting; every learner was rolled back "
                                      "to the weights it held before"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_during_the_rollback_after_an_error_is_raised_after_it(terminal_ctrl_c):
    learners = scripted()
    original = [learner.mli_accept_weights for learner in learners]
    calls = []

    def accept_0(weights):
        calls.append(weights.weights)
        if len(calls) == 2:
            interrupt_here()
        original[0](weights)
    learners[0].mli_accept_weights = accept_0
    learners[2].mli_accept_weights = lambda weights: (_ for _ in ()).throw(RuntimeError("disk full"))
    with pytest.raises(KeyboardInterrupt) as raised:
        run_one_round(0, learners)
    assert [learner.value for learner in learners] == [0, 0, 0, 0]
    assert raised.value.__notes__ == ["Ctrl-C during the rollback after learner 2 failed to accept "
                                      "(RuntimeError: disk full); every learner was rolled back to the "
                                      "weights it held before"]


# -- set_equal_weights over mixed learners --------------------------------------------------------------

def test_set_equal_weights_over_pytorch_and_numpy_learners_names_the_learner_and_changes_nothing():
    torch.manual_seed(0)
    learners = [make_learner(), make_learner(seed=1), NumpyLearner()]
    before = state(learners[1])
    # before the fix: learner 1 took learner 0's weights, then learner 2 raised a bare KeyError: 0
    message = (r"learner 2 has a different model from learner 0 \(weights do not fit this learner: "
               r"weights is a dict but the learner's is of type tuple")
    with pytest.raises(ValueError, match=message):
        set_equal_weights(learners)
    assert same(state(learners[1]), before) and np.all(learners[2].coef == 0)
    with pytest.raises(ValueError, match="learner 1 has a different model from learner 0 .*a state dict"):
        set_equal_weights([NumpyLearner(), make_learner()])


def test_set_equal_weights_rolls_back_when_an_accept_fails_after_the_checks_passed():
    torch.manual_seed(0)

    class Careless(NumpyLearner):
        def check_weights(self, weights):
            pass
    learners = [make_learner(), make_learner(seed=1), Careless()]
    before = state(learners[1])
    with pytest.raises(ValueError, match=r"learner 2 failed to take learner 0's weights \(KeyError: 0\); "
                                         "every learner was rolled back"):
        set_equal_weights(learners)
    assert same(state(learners[1]), before)


@pytest.mark.parametrize("error", [KeyError("0.weight"), TypeError("not subscriptable"),
                                   AttributeError("shape")])
def test_a_check_raising_another_kind_of_error_becomes_a_value_error_naming_the_learner(error):
    learners = scripted(3)
    learners[0].value = 5

    def check(weights):
        raise error
    learners[2].check_weights = check
    with pytest.raises(ValueError, match=f"learner 2 has a different model from learner 0 "
                                         f"\\({type(error).__name__}: .*no learner was changed"):
        set_equal_weights(learners)
    assert [learner.value for learner in learners] == [5, 0, 0]


def test_weights_mismatch_and_weights_equal():
    assert weights_mismatch((np.zeros(2),), [np.ones(2)]) is None
    assert weights_mismatch({"a": np.zeros((2, 3))}, {"a": np.zeros((3, 2))}) == (
        "weights['a'] has shape (2, 3) but the learner's has (3, 2)")
    assert weights_mismatch(3, {"a": 1}) == "weights is of type int but the learner's is a dict"
    assert weights_equal({"a": torch.ones(2), "b": (np.ones(2), 1)},
                         {"a": torch.ones(2), "b": [np.ones(2), 1]})
    assert not weights_equal({"a": torch.ones(2)}, {"a": torch.zeros(2)})
    assert not weights_equal(torch.ones(2), torch.ones(3)) and not weights_equal({"a": 1}, {"b": 1})
