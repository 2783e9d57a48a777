"""The fair comparison: same splits, same start, same training batches; plain data out; one plot."""
import json

import pytest
import torch
from torch.utils.data import Subset

from colearn_nb import (
    APPROACHES,
    PytorchLearner,
    categorical_accuracy,
    compare_fairly,
    learner_loaders,
    load_mnist,
    plot_comparison,
)


def small_mnist(n_train=1200, n_test=300):
    """A part of the shipped digits, to keep the tests quick."""
    train_data, test_data = load_mnist()
    return Subset(train_data, range(n_train)), Subset(test_data, range(n_test))


@pytest.fixture(scope="module")
def comparison():
    train_data, test_data = small_mnist()
    loaders = learner_loaders(train_data, test_data, n_learners=3, batch_size=64, seed=0)
    return compare_fairly(loaders, n_rounds=6, num_train_batches=3, seed=0)


# compare_fairly(small_mnist() split 3 ways, n_rounds=6, num_train_batches=3, seed=0) before make_learner
# existed (commit 5148147): the default learner must still give exactly these numbers (federated averaging's
# too, since Flower's FedAvg strategy replaced the hand-written average: the same sums in the same order)
BEFORE_MAKE_LEARNER = {
    "collective": [0.07999999821186066, 0.19333332777023315, 0.2733333359162013, 0.5933333237965902,
        0.5600000023841858, 0.7066666682561239, 0.6666666666666666],
    "alone": [0.07999999821186066, 0.11333333333333334, 0.11333333333333334, 0.25333333333333335,
        0.3133333333333333, 0.4466666666666667, 0.4000000000000001],
    "pooled": [0.07999999821186066, 0.26000000536441803, 0.4066666563351949, 0.5333333313465118,
        0.6533333460489908, 0.6333333452542623, 0.7266666690508524],
    "federated averaging": [0.07999999821186066, 0.5666666626930237, 0.6200000047683716],
}


def test_the_default_learner_gives_the_numbers_it_gave_before_make_learner(comparison):
    assert comparison.mean_test_accuracy == BEFORE_MAKE_LEARNER
    assert comparison.n_accepted == 6


def test_every_approach_gets_the_same_training_batches_from_the_same_start(comparison):
    assert list(comparison.mean_test_accuracy) == list(APPROACHES)
    for name in ("collective", "alone", "pooled"):
        assert comparison.training_batches[name] == [0, 3, 6, 9, 12, 15, 18]
    assert comparison.training_batches["federated averaging"] == [0, 9, 18]  # 2 rounds of all 3 learners
    starts = {scores[0] for scores in comparison.mean_test_accuracy.values()}
    assert len(starts) == 1  # same initial weights, same test data


def test_training_helps_and_pooled_data_beats_learning_alone(comparison):
    final = comparison.final()
    assert all(final[name] > comparison.mean_test_accuracy[name][0] + 0.2 for name in APPROACHES)
    assert final["pooled"] > final["alone"]
    assert 1 <= comparison.n_accepted <= 6


def test_results_are_plain_data_and_plot_on_given_axes(comparison):
    assert json.loads(json.dumps(comparison.to_dict()))["training_batches"]["alone"][-1] == 18
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    figure = plot_comparison(comparison, ax=ax)
    assert figure is ax.figure and len(ax.get_lines()) == 4
    assert ax.get_xlabel() == "training batches, all learners together"
    assert "final mean test accuracy" in repr(comparison)


def test_same_seed_same_comparison():
    train_data, test_data = small_mnist(400, 200)
    runs = [compare_fairly(learner_loaders(train_data, test_data, n_learners=2, seed=0), n_rounds=2,
                           num_train_batches=1, seed=3) for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize("options, message", [({"n_rounds": 0}, "n_rounds: got 0"),
                                              ({"vote_threshold": 2}, "vote_threshold: got 2"),
                                              ({"num_train_batches": 0}, "num_train_batches: got 0")])
def test_bad_input_names_the_parameter(options, message):
    train_data, test_data = small_mnist(400, 200)
    with pytest.raises(ValueError, match=message):
        compare_fairly(learner_loaders(train_data, test_data, n_learners=2), **options)


class LogitsLearner(PytorchLearner):
    """A learner that remembers the weights it was first given (``compare_fairly`` gives the start)."""

    start = None

    def mli_accept_weights(self, weights):
        super().mli_accept_weights(weights)
        if self.start is None:
            self.start = {key: tensor.clone() for key, tensor in self.model.state_dict().items()}


def logits_model():
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))  # logits, no log_softmax


def test_a_users_learner_with_logits_and_cross_entropy_serves_every_approach_from_one_start():
    built = []

    def make_learner(train_loader, vote_loader):  # the user's own model, optimizer, loss and vote score
        model = logits_model()
        learner = LogitsLearner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
                                train_loader=train_loader, vote_loader=vote_loader,
                                criterion=torch.nn.CrossEntropyLoss(), vote_criterion=categorical_accuracy,
                                minimise_criterion=False, num_train_batches=3)
        built.append(learner)
        return learner

    train_data, test_data = small_mnist()
    loaders = learner_loaders(train_data, test_data, n_learners=3, batch_size=64, seed=0)
    result = compare_fairly(loaders, n_rounds=6, make_learner=make_learner, seed=0)
    assert len(built) == 1 + 3 + 3 + 1 + 3  # the first (its weights are the start), then per approach
    start = built[0].mli_get_current_weights().weights  # the first one built is never trained
    for learner in built[1:]:  # each made with its own random weights, then given the start
        assert learner.start.keys() == start.keys()
        assert all(torch.equal(learner.start[key], tensor) for key, tensor in start.items())
        assert learner.num_train_batches == 3 and isinstance(learner.criterion, torch.nn.CrossEntropyLoss)
    for name in ("collective", "alone", "pooled"):
        assert result.training_batches[name] == [0, 3, 6, 9, 12, 15, 18]  # the learner's own budget
    assert len({scores[0] for scores in result.mean_test_accuracy.values()}) == 1
    final = result.final()
    assert all(final[name] > result.mean_test_accuracy[name][0] + 0.2 for name in APPROACHES)


def test_a_metric_of_ones_own_scores_every_approach():
    train_data, test_data = small_mnist(400, 200)
    options = dict(n_rounds=2, num_train_batches=1, seed=3)
    default = compare_fairly(learner_loaders(train_data, test_data, n_learners=2, seed=0), **options)
    seen = []

    def metric(outputs, labels):
        seen.append(len(labels))
        return categorical_accuracy(outputs, labels)

    mine = compare_fairly(learner_loaders(train_data, test_data, n_learners=2, seed=0), metric=metric,
                          **options)
    assert seen and set(seen) == {50}  # each model on one learner's test data (half of 200 / 2)
    for name in APPROACHES:
        assert mine.mean_test_accuracy[name] == pytest.approx(default.mean_test_accuracy[name], abs=1e-6)


def test_the_default_learner_refuses_a_model_without_log_probabilities():
    train_data, test_data = small_mnist(400, 200)
    with pytest.raises(ValueError, match=r"make_model: got outputs whose exp sums to .*; expected "
                                         r"log-probabilities.*log_softmax, or pass make_learner"):
        compare_fairly(learner_loaders(train_data, test_data, n_learners=2), make_model=logits_model)


def other_loaders_learner(train_loader, vote_loader):
    model = logits_model()
    return PytorchLearner(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                          train_loader=vote_loader, vote_loader=vote_loader,
                          criterion=torch.nn.CrossEntropyLoss())


@pytest.mark.parametrize("options, message", [
    ({"make_learner": lambda train, vote: "a learner"},
     "make_learner: returned str; expected a PytorchLearner"),
    ({"make_learner": other_loaders_learner}, "make_learner: returned a learner on other loaders"),
    ({"make_learner": other_loaders_learner, "make_model": logits_model},
     "make_model: got .* with make_learner"),
    ({"make_learner": other_loaders_learner, "learning_rate": 0.1},
     "learning_rate: got 0.1 with make_learner"),
    ({"learning_rate": 0}, "learning_rate: got 0; expected a number > 0"),
    ({"metric": "accuracy"}, "metric: got 'accuracy'; expected a function"),
    ({"vote_threshold": True}, "vote_threshold: got True"),
])
def test_bad_learner_options_are_refused(options, message):
    train_data, test_data = small_mnist(400, 200)
    with pytest.raises(ValueError, match=message):
        compare_fairly(learner_loaders(train_data, test_data, n_learners=2), **options)


def test_curve_legends_sit_beside_the_data_never_on_it():
    """Curves end at the right, where a legend inside the axes would hide the final points (09 to 11)."""
    from matplotlib.figure import Figure

    from colearn_nb import plot_curves

    rounds = list(range(11))
    curves = {name: (rounds, [level * r / 10 for r in rounds]) for name, level in
              (("no privacy", 0.95), ("noise 0.8", 0.6), ("noise 1.5", 0.3))}
    for figure in (plot_curves(curves), plot_curves(curves, ax=Figure(layout="constrained").add_subplot())):
        figure.draw_without_rendering()  # lays the figure out, as when it is shown
        ax = figure.axes[0]
        legend, data_area = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert not legend.overlaps(data_area), (legend, data_area)
        assert figure.bbox.contains(legend.x1 - 1, legend.y0 + 1), "the legend fits in the figure"
