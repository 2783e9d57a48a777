"""Attacks the vote does not obviously stop: a backdoor that keeps clean accuracy (honest voters accept it),
and a ring of colluders that approve each other's proposals (they pass once the ring reaches the threshold).
"""
import copy

import pytest
import torch

from colearn_nb import (
    BackdoorProposer,
    Colluder,
    RandomWeightsProposer,
    add_trigger,
    attack_success_rate,
    collective_learning_round,
    dataset_tensors,
    initial_result,
    load_mnist,
    make_mnist_learners,
    seed_everything,
    set_equal_weights,
    with_bad_actors,
)
from colearn_nb.pytorch.attacks import BackdoorLoader


@pytest.fixture(scope="module")
def trained_once():
    """5 MNIST learners (4 batches a proposal) after one accepted honest round (learner 0 proposed)."""
    seed_everything(0)
    learners = make_mnist_learners(n_learners=5, num_train_batches=4)
    set_equal_weights(learners)
    assert collective_learning_round(learners, 0.5, 0).vote
    return learners


@pytest.fixture(scope="module")
def test_digits():
    return dataset_tensors(load_mnist()[1])


def mean_accuracy(learners):
    scores = initial_result(learners).test_scores
    return sum(scores) / len(scores)


def ring_round(learners, ring, vote_threshold):
    """Round 1 (learner 1 proposes) with the ``ring`` proposing garbage and approving each other."""
    learners = copy.deepcopy(learners)
    learners = with_bad_actors(with_bad_actors(learners, ring, RandomWeightsProposer), ring, Colluder)
    return learners, collective_learning_round(learners, vote_threshold, 1)


@pytest.mark.parametrize("k, vote_threshold, passes", [(1, 0.25, False), (2, 0.25, True), (2, 0.5, False),
                                                       (3, 0.5, True), (3, 0.75, False)])
def test_a_ring_of_k_passes_its_garbage_exactly_when_k_minus_1_reach_the_threshold(trained_once, k,
                                                                                   vote_threshold, passes):
    before = mean_accuracy(trained_once)
    learners, result = ring_round(trained_once, list(range(1, 1 + k)), vote_threshold)
    assert result.vote is passes and passes is (k - 1 >= 4 * vote_threshold)
    assert [v for i, v in enumerate(result.votes) if i == 0 or i > k] == [False] * (5 - k), "honest say no"
    if passes:
        assert mean_accuracy(learners) < before - 0.1
    else:
        assert mean_accuracy(learners) == before


def test_colluders_vote_honestly_on_proposals_from_outside_the_ring(trained_once):
    honest = copy.deepcopy(trained_once)
    ringed = with_bad_actors(copy.deepcopy(trained_once), [1, 2], Colluder)
    seed_everything(1)
    honest_result = collective_learning_round(honest, 0.5, 3)
    seed_everything(1)
    ringed_result = collective_learning_round(ringed, 0.5, 3)
    assert ringed_result.votes == honest_result.votes
    assert "ring" not in ringed_result.training_summaries[0]


def test_the_ring_mark_rides_on_the_proposal_and_keeps_the_inner_attack(trained_once):
    learner = Colluder(RandomWeightsProposer(copy.deepcopy(trained_once[1])), ring="r7")
    summary = learner.mli_propose_weights().training_summary
    assert summary["ring"] == "r7" and summary["attack"] == "random weights"
    with pytest.raises(ValueError, match="ring: got ''; expected a non-empty string"):
        Colluder(trained_once[1], ring="")


def test_a_backdoor_passes_the_vote_and_hijacks_triggered_digits(trained_once, test_digits):
    """Trained harder (3 passes) the backdoored proposal scores better on clean digits, so honest voters
    accept it, while most triggered digits now read as the target label."""
    inputs, labels = test_digits
    before = attack_success_rate(trained_once[0].model, inputs, labels, target_label=0)
    learners = with_bad_actors(copy.deepcopy(trained_once), [1], BackdoorProposer, target_label=0, passes=3)
    result = collective_learning_round(learners, 0.5, 1)
    after = attack_success_rate(learners[0].model, inputs, labels, target_label=0)
    assert result.vote and result.training_summaries[0]["attack"] == "backdoor"
    assert before < 0.2 and after > 0.7
    assert mean_accuracy(learners) > mean_accuracy(trained_once), "clean accuracy went up: all looks well"
    assert learners[1].learner.num_train_batches == 4, "the learner's own setting is put back"


def test_backdoor_loader_adds_triggered_copies_labelled_with_the_target():
    inputs, labels = torch.zeros(10, 1, 8, 8), torch.arange(10)
    loader = BackdoorLoader([(inputs, labels)], target_label=3, fraction=0.3, trigger_size=2, passes=2)
    batches = list(loader)
    assert len(loader) == 2 and len(batches) == 2
    poisoned_inputs, poisoned_labels = batches[0]
    assert poisoned_labels.tolist() == list(range(10)) + [3, 3, 3]
    assert torch.equal(poisoned_inputs[:10], inputs), "the clean samples are kept as they are"
    assert torch.equal(poisoned_inputs[10:], add_trigger(inputs[:3], 2))
    assert add_trigger(inputs, 2).sum() == 10 * 4 and inputs.sum() == 0, "the trigger is stamped on a copy"


@pytest.mark.parametrize("make, message", [
    (lambda learner: BackdoorProposer(learner, fraction=0),
     r"fraction: got 0; expected a number in \(0, 1\]"),
    (lambda learner: BackdoorProposer(learner, passes=0), "passes: got 0; expected an integer >= 1"),
    (lambda learner: BackdoorProposer(learner, target_label=-1), "target_label: got -1"),
    (lambda learner: add_trigger(torch.zeros(3, 3), size=4), r"inputs: got shape \(3, 3\)"),
])
def test_bad_backdoor_options_name_the_parameter(trained_once, make, message):
    with pytest.raises(ValueError, match=message):
        make(trained_once[1])


def test_attack_success_rate_counts_only_digits_of_other_labels():
    class AlwaysZero(torch.nn.Module):
        def forward(self, inputs):
            return torch.tensor([[0.0, -5.0]]).repeat(len(inputs), 1)

    inputs = torch.zeros(4, 1, 6, 6)
    labels = torch.tensor([0, 1, 1, 0])
    assert attack_success_rate(AlwaysZero(), inputs, labels, target_label=0, trigger_size=2) == 1.0
    assert attack_success_rate(AlwaysZero(), inputs, labels, target_label=1, trigger_size=2) == 0.0
    with pytest.raises(ValueError, match="labels: got only the target label 0"):
        attack_success_rate(AlwaysZero(), inputs, torch.zeros(4, dtype=torch.long))
