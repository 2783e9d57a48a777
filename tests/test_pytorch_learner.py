"""PytorchLearner on small synthetic data: the interface's contract and the learner's rules."""
import math

import pytest
import torch
from conftest import CountingLoader, make_learner, synthetic_data

from colearn_nb import Weights, set_equal_weights


def state(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_propose_and_test_leave_current_weights_unchanged(learner):
    before = state(learner)
    proposal = learner.mli_propose_weights()
    assert same(state(learner), before)
    assert not same(proposal.weights, before), "training must change the proposed weights"
    assert proposal.training_summary["n_train_batches"] == 4
    learner.mli_test_weights(proposal)
    assert same(state(learner), before)


def test_accept_loads_the_proposal(learner):
    proposal = learner.mli_propose_weights()
    learner.mli_accept_weights(proposal)
    assert same(state(learner), proposal.weights)
    assert same(learner.mli_get_current_weights().weights, proposal.weights)


def test_weights_handed_out_are_copies_never_shared_with_a_model():
    torch.manual_seed(0)
    a, b = make_learner(), make_learner(seed=1)
    set_equal_weights([a, b])
    assert same(state(a), state(b))
    model_ptrs = {t.data_ptr() for learner in (a, b) for t in learner.model.state_dict().values()}
    for weights in (a.mli_get_current_weights(), a.mli_propose_weights()):
        assert not model_ptrs & {t.data_ptr() for t in weights.weights.values()}
    proposal = a.mli_propose_weights()
    a.mli_accept_weights(proposal)
    b.mli_accept_weights(proposal)
    with torch.no_grad():
        next(a.model.parameters()).add_(1.0)
        next(iter(proposal.weights.values())).add_(2.0)
    assert not same(state(a), state(b))
    assert not same(state(b), proposal.weights)


def test_optimizer_state_is_reset_before_each_proposal():
    torch.manual_seed(0)
    learner = make_learner()
    first, second = learner.mli_propose_weights(), learner.mli_propose_weights()
    assert same(first.weights, second.weights), "a reset optimizer trains the same way from the same weights"
    torch.manual_seed(0)
    carried = make_learner(need_reset_optimizer=False)
    first, second = carried.mli_propose_weights(), carried.mli_propose_weights()
    assert not same(first.weights, second.weights), "Adam's moments carry over without the reset"


def test_vote_direction_minimise_and_maximise():
    torch.manual_seed(0)
    minimise, maximise = make_learner(), make_learner(maximise=True)
    minimise.vote_score, maximise.vote_score = 0.5, 0.5
    assert minimise.vote(0.4) and not minimise.vote(0.5) and not minimise.vote(0.6)
    assert maximise.vote(0.6) and not maximise.vote(0.5) and not maximise.vote(0.4)
    for bad in (math.nan, math.inf, -math.inf):
        assert not minimise.vote(bad) and not maximise.vote(bad)


def test_vote_scores_follow_the_criterion(learner):
    proposal = learner.mli_propose_weights()
    scored = learner.mli_test_weights(proposal)
    assert scored.vote == (scored.vote_score < learner.vote_score)
    assert scored.vote_score < learner.vote_score, "training on the task lowers the loss here"
    assert scored.test_score > 0


def test_accept_reuses_the_score_of_the_tested_weights_instead_of_testing_again(learner):
    calls = []
    original_test = learner.test
    learner.test = lambda *args: calls.append(args) or original_test(*args)
    proposal = learner.mli_propose_weights()
    scored = learner.mli_test_weights(proposal)
    n_tests = len(calls)
    learner.mli_accept_weights(proposal)
    assert len(calls) == n_tests and learner.vote_score == scored.vote_score
    other = Weights(weights=dict(proposal.weights))  # not the tested object: must be scored
    learner.mli_accept_weights(other)
    assert len(calls) == n_tests + 1


def test_batch_limits_fetch_exactly_that_many_batches():
    inputs, labels = synthetic_data()
    torch.manual_seed(0)
    learner = make_learner(num_train_batches=2, num_test_batches=1)
    learner.train_loader = CountingLoader(learner.train_loader)
    learner.vote_loader = CountingLoader(learner.vote_loader)
    proposal = learner.mli_propose_weights()
    assert learner.train_loader.fetched == 2 and proposal.training_summary["n_train_batches"] == 2
    learner.mli_test_weights(proposal)
    assert learner.vote_loader.fetched == 1, "no batch may be fetched and thrown away"


def test_test_loader_is_optional(learner):
    torch.manual_seed(0)
    no_test = make_learner(test_loader=None)
    scored = no_test.mli_test_weights(no_test.mli_get_current_weights())
    assert math.isnan(scored.test_score) and math.isfinite(scored.vote_score), \
        "no test set: NaN, not a score of 0"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_learner_on_cuda():
    learner = make_learner(device="cuda")
    proposal = learner.mli_propose_weights()
    assert next(learner.model.parameters()).is_cuda
    scored = learner.mli_test_weights(proposal)
    learner.mli_accept_weights(proposal)
    assert same(state(learner), proposal.weights) and math.isfinite(scored.vote_score)


def test_no_gradients_are_kept_between_rounds(learner):
    learner.mli_propose_weights()
    assert all(p.grad is None for p in learner.model.parameters()), \
        "gradients would cost memory in every learner"


def test_every_training_batch_is_a_step_of_the_learners_training_strategy():
    """Training goes through ``learner.training`` (plain steps by default): one ``step`` per batch."""
    from colearn_nb.pytorch.training import SgdTraining

    torch.manual_seed(0)
    learner = make_learner(num_train_batches=3)
    assert isinstance(learner.training, SgdTraining) and learner.privacy is None
    assert learner.optimizer is learner.training.optimizer
    plain_step, sizes = learner.training.step, []

    def counting_step(loss_of, inputs, labels):
        sizes.append(len(labels))
        return plain_step(loss_of, inputs, labels)

    learner.training.step = counting_step
    summary = learner.mli_propose_weights().training_summary
    assert len(sizes) == summary["n_train_batches"] == 3 and all(size > 0 for size in sizes)
