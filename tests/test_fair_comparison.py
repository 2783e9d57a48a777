"""The fair comparison: same splits, same start, same training batches; plain data out; one plot."""
import json

import pytest
from torch.utils.data import Subset

from colearn_nb import APPROACHES, compare_fairly, learner_loaders, load_mnist, plot_comparison


def small_mnist(n_train=1200, n_test=300):
    """A part of the shipped digits, to keep the tests quick."""
    train_data, test_data = load_mnist()
    return Subset(train_data, range(n_train)), Subset(test_data, range(n_test))


@pytest.fixture(scope="module")
def comparison():
    train_data, test_data = small_mnist()
    loaders = learner_loaders(train_data, test_data, n_learners=3, batch_size=64, seed=0)
    return compare_fairly(loaders, n_rounds=6, num_train_batches=3, seed=0)


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
