"""Per-learner gain (notebook 15): shared-model score minus the score alone, on users' own pieces."""
from __future__ import annotations

import json

import matplotlib
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import colearn_nb
from colearn_nb import LearnerGains, PytorchLearner, categorical_accuracy, learner_gains, plot_learner_gains

matplotlib.use("Agg")


def user_learner(inputs: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> PytorchLearner:
    """A user's learner: a plain DataLoader over their own tensors, their own model, SGD, cross-entropy."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    loader = DataLoader(TensorDataset(inputs, labels), batch_size=4)
    return PytorchLearner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                          train_loader=loader, vote_loader=loader, test_loader=loader,
                          criterion=nn.CrossEntropyLoss(),
                          vote_criterion=categorical_accuracy, minimise_criterion=False)


def two_points(label_of_first: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([label_of_first, 1 - label_of_first])


def set_answer(learner: PytorchLearner, label: int) -> None:
    """Make the model answer ``label`` for every input."""
    last = learner.model[2]
    with torch.no_grad():
        for layer in learner.model:
            if isinstance(layer, nn.Linear):
                layer.weight.zero_()
                layer.bias.zero_()
        last.bias[label] = 1.0


def test_the_gain_is_the_shared_score_minus_the_score_alone_on_each_learners_own_test_data():
    data = [two_points(0), (torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([1, 1]))]
    alone = [user_learner(*d) for d in data]
    shared = [user_learner(*d) for d in data]
    set_answer(alone[0], 0)  # right on half of learner 0's test data
    set_answer(alone[1], 0)  # wrong on all of learner 1's
    for learner in shared:
        set_answer(learner, 1)  # the shared model: half right for learner 0, all right for learner 1
    gains = learner_gains({"voting": shared}, alone)
    assert gains.alone == [0.5, 0.0] and gains.shared == {"voting": [0.5, 1.0]}
    assert gains.gains() == {"voting": [0.0, 1.0]}
    assert gains.n_gaining("voting") == 1 and gains.mean_score("voting") == 0.75
    assert json.loads(json.dumps(gains.to_dict()))["alone"] == [0.5, 0.0]  # plain data


def test_trained_learners_from_plain_dataloaders_gain_and_are_scored_where_they_hold_their_test_data():
    inputs = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    labels = (inputs[:, 0] > 0).long()
    learners = [user_learner(inputs[i::2], labels[i::2], seed=i) for i in range(2)]
    for learner in learners:
        for _ in range(20):
            learner.mli_accept_weights(learner.mli_propose_weights())
    untrained = [user_learner(inputs[i::2], labels[i::2], seed=i) for i in range(2)]
    gains = learner_gains({"trained": learners}, untrained)
    own = [learner.test(learner.test_loader) for learner in learners]
    assert gains.shared["trained"] == own and min(own) > 0.9
    assert all(gain > 0 for gain in gains.gains()["trained"])


def test_learners_in_another_order_or_without_test_data_are_refused():
    learner = user_learner(*two_points(0))
    with pytest.raises(ValueError, match=r"^shared: 'voting' has 2 learners and alone 1; expected the same"):
        learner_gains({"voting": [learner, learner]}, [learner])
    learner.test_loader = None
    with pytest.raises(ValueError, match="no test_loader"):
        learner_gains({"voting": [learner]}, [learner])


def test_the_plot_takes_an_axes_and_returns_its_figure_with_one_bar_per_learner_and_approach():
    gains = LearnerGains({"voting": [0.9, 0.5, 0.7], "FedAvg": [0.8, 0.6, 0.7]}, [0.7, 0.8, 0.7])
    figure = colearn_nb.new_figure()
    ax = figure.add_subplot()
    assert plot_learner_gains([gains, gains], ax=ax, title="iid") is figure
    assert len(ax.patches) == 6 and ax.get_title() == "iid"
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [-0.3, -0.2, 0.0, 0.0, 0.1, 0.2]
    with pytest.raises(ValueError, match="^gains: got"):
        plot_learner_gains([])


def test_compare_gains_gives_every_approach_the_same_batches_and_refuses_an_uneven_budget():
    from colearn_nb import compare_gains, learner_loaders, load_mnist, tutorial_learner

    loaders = learner_loaders(*load_mnist(), n_learners=2, seed=0)
    gains = compare_gains(loaders, tutorial_learner(), n_rounds=4, num_train_batches=1)
    assert sorted(gains.shared) == ["FedAvg", "FedProx", "voting"] and len(gains.alone) == 2
    assert gains.training_batches() == 4 and gains.n_accepted is not None
    with pytest.raises(ValueError, match=r"^n_rounds: got 3 for 2 learners; expected a multiple of 2"):
        compare_gains(loaders, tutorial_learner(), n_rounds=3, num_train_batches=1)
