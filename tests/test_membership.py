"""Membership inference: the loss-threshold attack recognises the digits a model trained on, and DP-SGD
takes most of that away (measured on a small model and 100 digits, so it runs in seconds)."""
import math

import pytest
import torch

from colearn_nb import (
    DiffPrivConfig,
    PytorchLearner,
    TensorLoader,
    chance_advantage,
    dataset_tensors,
    load_mnist,
    loss_threshold_attack,
    membership_advantage,
    membership_auc,
    opacus_available,
    plot_privacy_curve,
    sample_losses,
)


def small_model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 10), torch.nn.LogSoftmax(dim=1))


def trained_learner(members, diff_priv_config=None, proposals=25):
    """A learner on ``members`` (batches of 20) after ``proposals`` accepted proposals of a full pass each."""
    torch.manual_seed(0)
    model = small_model()
    optimizer = (torch.optim.SGD(model.parameters(), lr=0.1) if diff_priv_config
                 else torch.optim.Adam(model.parameters(), lr=1e-3))
    learner = PytorchLearner(model=model, optimizer=optimizer,
                             train_loader=TensorLoader(*members, batch_size=20, shuffle=True, seed=0),
                             vote_loader=TensorLoader(*members, batch_size=100), criterion=torch.nn.NLLLoss(),
                             diff_priv_config=diff_priv_config)
    for _ in range(proposals):
        learner.mli_accept_weights(learner.mli_propose_weights())
    return learner


@pytest.fixture(scope="module")
def digits():
    """100 training digits (members) and 100 test digits never trained on (non-members)."""
    train_inputs, train_labels = dataset_tensors(load_mnist()[0])
    test_inputs, test_labels = dataset_tensors(load_mnist()[1])
    return (train_inputs[:100], train_labels[:100]), (test_inputs[:100], test_labels[:100])


@pytest.fixture(scope="module")
def plain_attack(digits):
    """The attack on a learner trained without privacy."""
    members, non_members = digits
    return loss_threshold_attack(trained_learner(members).model, members, non_members)


def test_a_model_trained_on_few_digits_gives_them_away(digits, plain_attack):
    members, non_members = digits
    untrained = loss_threshold_attack(small_model(), members, non_members)
    attack = plain_attack
    assert attack.n == 100 and attack.member_loss < attack.non_member_loss / 5
    assert attack.auc > 0.75 and attack.advantage > 0.4
    assert untrained.advantage < attack.advantage - 0.25, "before training there was nothing to find"


@pytest.mark.skipif(not opacus_available(), reason="opacus is not installed (pip install opacus)")
def test_dp_sgd_takes_the_advantage_away(digits, plain_attack):
    members, non_members = digits
    plain = plain_attack
    config = DiffPrivConfig(target_epsilon=1.0, target_delta=1e-5, planned_proposals=25)
    private_learner = trained_learner(members, config)
    private = loss_threshold_attack(private_learner.model, members, non_members)
    assert private_learner.privacy.epsilon() <= 1.0
    assert private.advantage < plain.advantage - 0.2 and abs(private.auc - 0.5) < abs(plain.auc - 0.5) / 2


def test_auc_and_advantage_on_known_losses():
    separated = torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.5, 0.6, 0.7])
    assert membership_auc(*separated) == 1.0 and membership_advantage(*separated) == 1.0
    alike = torch.tensor([0.1, 0.5]), torch.tensor([0.1, 0.5])
    assert membership_auc(*alike) == 0.5 and membership_advantage(*alike) == 0.0
    reversed_ = torch.tensor([0.9]), torch.tensor([0.1])
    assert membership_auc(*reversed_) == 0.0 and membership_advantage(*reversed_) == 0.0
    with pytest.raises(ValueError, match="losses: got 0 member and 1 non-member losses"):
        membership_auc(torch.tensor([]), torch.tensor([0.1]))


def test_sample_losses_are_per_sample_cross_entropy_and_keep_the_model_mode():
    model = small_model().train()
    inputs, labels = torch.randn(5, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4])
    losses = sample_losses(model, inputs, labels, batch_size=2)
    model.eval()
    expected = torch.nn.functional.nll_loss(model(inputs), labels, reduction="none")
    assert torch.allclose(losses, expected.detach()) and losses.shape == (5,)
    model.train()
    sample_losses(model, inputs, labels)
    assert model.training
    with pytest.raises(ValueError, match="inputs and labels: got 5 inputs and 4 labels"):
        sample_losses(model, inputs, labels[:4])


def test_chance_advantage_is_what_random_losses_exceed_one_time_in_twenty():
    chance = chance_advantage(50, 80)
    generator = torch.Generator().manual_seed(1)
    lucky = [membership_advantage(torch.rand(50, generator=generator), torch.rand(80, generator=generator))
             > chance for _ in range(400)]
    assert 0.02 < sum(lucky) / len(lucky) < 0.09, "about 5 % of guessing attackers beat the 95th percentile"
    assert math.isclose(chance, math.sqrt(math.log(20) / 2 * (50 + 80) / (50 * 80)), rel_tol=0.15)
    assert chance_advantage(500, 500) < chance_advantage(50, 50) / 2, "more samples: less luck"
    assert chance_advantage(50, 80, percentile=99) > chance
    with pytest.raises(ValueError, match=r"n_members: got 0; expected an integer >= 1"):
        chance_advantage(0, 10)
    with pytest.raises(ValueError, match=r"percentile: got 101; expected a number in \[0, 100\]"):
        chance_advantage(10, 10, percentile=101)


def test_the_privacy_curve_shows_each_run_over_the_chance_band():
    figure = plot_privacy_curve([1.0, 8.0, math.inf], [0.3, 0.45, 0.8], [0.1, 0.12, 0.27], chance=0.13)
    ax = figure.axes[0]
    accuracy, advantage = (line.get_ydata() for line in ax.get_lines())
    assert list(accuracy) == [0.3, 0.45, 0.8] and list(advantage) == [0.1, 0.12, 0.27]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "8", "no privacy"]
    assert "epsilon" in ax.get_xlabel() and any("0.13" in t.get_text() for t in ax.get_legend().get_texts())
    with pytest.raises(ValueError, match="epsilons, accuracies, advantages: got 2, 3 and 3 values"):
        plot_privacy_curve([1.0, 8.0], [0.3, 0.45, 0.8], [0.1, 0.12, 0.27], chance=0.13)
    with pytest.raises(ValueError, match="epsilons: got .*; expected them from smallest to largest"):
        plot_privacy_curve([8.0, 1.0], [0.3, 0.45], [0.1, 0.12], chance=0.13)
