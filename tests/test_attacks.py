"""Bad actors: each misbehaves as named, and the vote stops them
until the threshold or their number is too high."""
import copy

import numpy as np
import pytest
import torch
from conftest import make_learner

from colearn_nb import (
    AlwaysNoVoter,
    AlwaysYesVoter,
    LabelFlipLearner,
    MachineLearningInterface,
    ProposedWeights,
    RandomWeightsProposer,
    SignFlipProposer,
    Weights,
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


class NumpyLinearLearner(MachineLearningInterface):
    """A least-squares linear model in numpy: weights are (coef float64, intercept float32, steps int64)."""

    def __init__(self, seed, n=120, n_features=3):
        rng = np.random.default_rng(seed)
        inputs = rng.normal(size=(n, n_features))
        targets = inputs @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.05 * rng.normal(size=n)
        third = n // 3
        parts = (slice(0, third), slice(third, 2 * third), slice(2 * third, n))
        self.train, self.vote_data, self.test_data = ((inputs[s], targets[s]) for s in parts)
        self.weights = (np.zeros(n_features), np.zeros(1, dtype=np.float32), np.array(0))
        self.vote_score = self.mse(self.weights, self.vote_data)

    @staticmethod
    def mse(weights, data):
        coef, intercept, _ = weights
        inputs, targets = data
        return float(np.mean((inputs @ coef + intercept[0] - targets) ** 2))

    def mli_propose_weights(self):
        coef, intercept, steps = (w.copy() for w in self.weights)
        inputs, targets = self.train
        for _ in range(5):
            error = inputs @ coef + intercept[0] - targets
            coef -= 0.1 * inputs.T @ error / len(targets)
            intercept -= np.float32(0.1 * error.mean())
            steps += 1
        return Weights(weights=(coef, intercept, steps), training_summary={"n_train_batches": 5})

    def mli_test_weights(self, weights):
        vote_score = self.mse(weights.weights, self.vote_data)
        return ProposedWeights(weights, vote_score, self.mse(weights.weights, self.test_data),
                               vote=vote_score < self.vote_score)

    def mli_accept_weights(self, weights):
        self.weights = tuple(w.copy() for w in weights.weights)
        self.vote_score = self.mse(self.weights, self.vote_data)

    def mli_get_current_weights(self):
        return Weights(weights=tuple(w.copy() for w in self.weights))


@pytest.mark.parametrize("attacker", [RandomWeightsProposer, SignFlipProposer])
def test_proposers_attack_a_numpy_learner_in_a_real_round(attacker):
    learners = [NumpyLinearLearner(seed) for seed in range(4)]
    set_equal_weights(learners)
    assert collective_learning_round(learners, 0.5, 0).vote  # an honest round first: updates to flip
    current = learners[1].mli_get_current_weights().weights
    error_before = current_accuracy(learners)  # here the mean squared error: lower is better
    learners[1] = attacker(learners[1])
    result = collective_learning_round(learners, 0.5, 1)
    assert result.block_proposer == 1 and not result.vote and result.votes == [False, None, False, False]
    assert all(np.array_equal(a, b)
               for a, b in zip(learners[1].mli_get_current_weights().weights, current, strict=True))
    assert current_accuracy(learners) == error_before
    proposal = learners[1].mli_propose_weights()
    coef, intercept, steps = proposal.weights
    assert isinstance(proposal.weights, tuple) and proposal.training_summary["attack"] == attacker.attack
    assert (coef.dtype, intercept.dtype, intercept.shape) == (np.float64, np.float32, (1,))
    assert steps == (5 if attacker is RandomWeightsProposer else 10)  # not a float: kept (copied or proposed)
    assert not np.allclose(coef, current[0])
    accepted = collective_learning_round(learners, 0.0, 1)  # at threshold 0 the garbage gets in
    assert accepted.vote and current_accuracy(learners) > 2 * error_before


def test_sign_flip_reverses_a_numpy_update_and_random_weights_follow_the_scale():
    twins = [NumpyLinearLearner(0), NumpyLinearLearner(0)]
    current = twins[0].mli_get_current_weights().weights
    honest = twins[0].mli_propose_weights().weights
    flipped = SignFlipProposer(twins[1], scale=2.0).mli_propose_weights().weights
    for c, h, f in zip(current[:2], honest[:2], flipped[:2], strict=True):
        assert np.allclose(f - c, -2.0 * (h - c), atol=1e-6)
    garbage = RandomWeightsProposer(NumpyLinearLearner(0, n_features=3), scale=3.0, seed=1)
    draws = np.concatenate([garbage.mli_propose_weights().weights[0] for _ in range(300)])
    assert 2.5 < draws.std() < 3.5


def test_proposers_walk_nested_weights_and_keep_what_is_not_float():
    class Nested(NumpyLinearLearner):
        def mli_get_current_weights(self):
            coef, intercept, steps = self.weights
            return Weights(weights={"layers": [torch.ones(2), np.ones(3, dtype=np.float32)], "bias": 0.5,
                                    "name": "linear", "steps": steps, "mask": torch.tensor([1, 0])})

    weights = RandomWeightsProposer(Nested(0), seed=2).mli_propose_weights().weights
    assert set(weights) == {"layers", "bias", "name", "steps", "mask"}
    tensor, array = weights["layers"]
    assert tensor.dtype == torch.float32 and not torch.equal(tensor, torch.ones(2))
    assert array.dtype == np.float32 and not np.array_equal(array, np.ones(3))
    assert isinstance(weights["bias"], float) and weights["bias"] != 0.5
    assert (weights["name"], weights["steps"]) == ("linear", 0)
    assert torch.equal(weights["mask"], torch.tensor([1, 0]))


@pytest.mark.parametrize("attacker", [RandomWeightsProposer, SignFlipProposer])
def test_proposers_refuse_weights_they_cannot_change_when_built(attacker):
    from sklearn.linear_model import SGDClassifier

    class ModelAsWeights(NumpyLinearLearner):
        def mli_get_current_weights(self):
            return Weights(weights={"model": SGDClassifier()})

    with pytest.raises(ValueError, match=rf"{attacker.__name__}: weights\['model'\]: got SGDClassifier; "
                                         "expected torch tensors, numpy arrays"):
        attacker(ModelAsWeights(0))
