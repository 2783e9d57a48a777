"""Bad actors: each misbehaves as named, and the vote stops them
until the threshold or their number is too high."""
import copy

import pytest
import torch
from conftest import make_learner

from colearn_nb import (
    AlwaysNoVoter,
    AlwaysYesVoter,
    LabelFlipLearner,
    RandomWeightsProposer,
    SignFlipProposer,
    collective_learning_round,
    initial_result,
    make_mnist_learners,
    seed_everything,
    set_equal_weights,
    with_bad_actors,
)


def current_accuracy(learners):
    """Mean test accuracy of every learner's current weights."""
    scores = initial_result(learners).test_scores
    return sum(scores) / len(scores)


@pytest.fixture(scope="module")
def trained_once():
    """5 MNIST learners after one accepted honest round (learner 0 proposed)."""
    seed_everything(0)
    learners = make_mnist_learners(n_learners=5)
    set_equal_weights(learners)
    assert collective_learning_round(learners, 0.5, 0).vote
    return learners


def round_1(learners, vote_threshold, bad_actors):
    """Learner 1 proposes in round 1; ``bad_actors`` maps learner index -> wrapper class."""
    learners = copy.deepcopy(learners)
    for index, bad_actor in bad_actors.items():
        learners = with_bad_actors(learners, [index], bad_actor)
    return learners, collective_learning_round(learners, vote_threshold, 1)


@pytest.mark.parametrize("attacker", [RandomWeightsProposer, SignFlipProposer, LabelFlipLearner])
def test_the_vote_rejects_a_poisoned_proposal_and_accuracy_stays_up(trained_once, attacker):
    accuracy_before = current_accuracy(trained_once)
    assert accuracy_before > 0.5
    learners, result = round_1(trained_once, 0.5, {1: attacker})
    assert result.block_proposer == 1 and not result.vote
    assert result.votes == [False, None, False, False, False]
    assert max(result.test_scores) < accuracy_before - 0.2  # the proposal really is worse
    assert current_accuracy(learners) == accuracy_before


@pytest.mark.parametrize("attacker", [RandomWeightsProposer, SignFlipProposer])
def test_at_threshold_zero_garbage_gets_in_and_accuracy_drops(trained_once, attacker):
    learners, result = round_1(trained_once, 0.0, {1: attacker})
    assert result.vote
    assert current_accuracy(learners) < 0.3 < current_accuracy(trained_once) - 0.2


def test_colluding_yes_voters_let_garbage_in_at_threshold_one_half(trained_once):
    """One garbage proposer and two always-yes voters among 5: 2 of 4 votes are yes, enough at 0.5."""
    learners, result = round_1(trained_once, 0.5,
                               {1: RandomWeightsProposer, 2: AlwaysYesVoter, 3: AlwaysYesVoter})
    assert result.vote and result.votes == [False, None, True, True, False]
    assert current_accuracy(learners) < 0.3
    _, one_colluder = round_1(trained_once, 0.5, {1: RandomWeightsProposer, 2: AlwaysYesVoter})
    assert not one_colluder.vote


def test_always_no_voters_block_a_good_proposal(trained_once):
    _, honest = round_1(trained_once, 0.5, {})
    assert honest.vote and honest.votes.count(True) >= 2
    _, blocked = round_1(trained_once, 0.5, {0: AlwaysNoVoter, 2: AlwaysNoVoter, 3: AlwaysNoVoter})
    assert not blocked.vote and blocked.votes[0] is False and blocked.votes.count(True) <= 1


def test_bad_actors_keep_the_learner_contract_and_wrap_each_other():
    torch.manual_seed(0)
    honest = make_learner()
    actor = AlwaysYesVoter(RandomWeightsProposer(honest, scale=2.0, seed=1))
    before = honest.mli_get_current_weights().weights
    proposal = actor.mli_propose_weights()
    assert proposal.training_summary == {"attack": "random weights"}
    assert all(torch.equal(v, before[k]) for k, v in actor.mli_get_current_weights().weights.items())
    assert actor.mli_test_weights(proposal).vote is True and actor.vote_score == honest.vote_score
    assert 1.5 < torch.cat([t.flatten() for t in proposal.weights.values()]).std().item() < 2.5
    assert repr(actor).startswith("AlwaysYesVoter(RandomWeightsProposer(PytorchLearner(")


def test_sign_flip_reverses_the_honest_update():
    twins = []
    for _ in range(2):  # same starting weights, unshuffled data: the same honest training
        torch.manual_seed(0)
        twins.append(make_learner())
    honest = twins[0].mli_propose_weights()
    flipped = SignFlipProposer(twins[1], scale=2.0).mli_propose_weights()
    current = twins[0].mli_get_current_weights().weights
    assert flipped.training_summary["attack"] == "sign-flipped update"
    assert "mean_train_loss" in flipped.training_summary
    for key in current:
        assert torch.allclose(flipped.weights[key] - current[key],
                              -2.0 * (honest.weights[key] - current[key]), atol=1e-6)
        assert not torch.equal(honest.weights[key], current[key])


def test_label_flip_trains_on_mirrored_labels_and_restores_the_loader():
    torch.manual_seed(0)
    honest = make_learner()
    loader = honest.train_loader
    seen = []
    original_train = honest.train

    def spy():
        seen.extend(labels for _, labels in honest.train_loader)
        return original_train()

    honest.train = spy
    LabelFlipLearner(honest, n_classes=3).mli_propose_weights()
    assert honest.train_loader is loader
    assert torch.equal(torch.cat(seen), 2 - torch.cat([labels for _, labels in loader]))


@pytest.mark.parametrize("make, message", [
    (lambda learner: RandomWeightsProposer(learner, scale=0), "scale: got 0"),
    (lambda learner: SignFlipProposer(learner, scale=-1), "scale: got -1"),
    (lambda learner: LabelFlipLearner(learner, n_classes=1), "n_classes: got 1"),
    (lambda learner: AlwaysNoVoter("not a learner"), "learner: got str"),
    (lambda learner: with_bad_actors([learner, learner], [2], AlwaysNoVoter), "bad_actor_indices: got 2"),
    (lambda learner: with_bad_actors([learner, learner], [0], dict), "bad_actor: got"),
])
def test_bad_input_names_the_parameter(learner, make, message):
    with pytest.raises(ValueError, match=message):
        make(learner)
