"""A vote threshold is a number in [0, 1] at every public entry point: True refused, numpy floats taken."""
import numpy as np
import pytest
import torch
from conftest import make_learner
from torch.utils.data import Subset

from colearn_nb import (
    Dashboard,
    collective_learning_round,
    compare_fairly,
    learner_loaders,
    load_mnist,
    run_one_round,
    run_rounds,
)

REFUSED = [True, False, np.bool_(True), float("nan"), 1.5, -0.1, "0.5", None]
ACCEPTED = [np.float32(0.5), np.float64(0.5), 0, 1]


def learners():
    torch.manual_seed(0)
    return [make_learner(seed=0), make_learner(seed=1)]


def tiny_loaders():
    train_data, test_data = load_mnist()
    return learner_loaders(Subset(train_data, range(200)), Subset(test_data, range(100)), n_learners=2,
                           seed=0)


ENTRY_POINTS = {
    "run_one_round": lambda threshold: run_one_round(0, learners(), threshold),
    "collective_learning_round": lambda threshold: collective_learning_round(learners(), threshold, 0),
    "run_rounds": lambda threshold: run_rounds(learners(), 1, threshold),
    "Dashboard": lambda threshold: Dashboard(learners(), vote_threshold=threshold),
    "compare_fairly": lambda threshold: compare_fairly(tiny_loaders(), n_rounds=1, vote_threshold=threshold,
                                                       num_train_batches=1),
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
@pytest.mark.parametrize("threshold", REFUSED, ids=repr)
def test_every_entry_point_refuses_a_vote_threshold_that_is_no_number_in_0_1(entry_point, threshold):
    with pytest.raises(ValueError, match=r"vote_threshold: got .*; expected a number in \[0, 1\], e.g. 0.5"):
        ENTRY_POINTS[entry_point](threshold)


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_takes_numpy_floats_as_vote_thresholds(entry_point):
    for threshold in ACCEPTED if entry_point != "compare_fairly" else ACCEPTED[:1]:  # one slow run there
        assert ENTRY_POINTS[entry_point](threshold) is not None


def test_a_refused_threshold_changes_no_learner():
    group = learners()
    before = [learner.mli_get_current_weights().weights for learner in group]
    with pytest.raises(ValueError, match="vote_threshold: got True"):
        run_one_round(0, group, True)
    after = [learner.mli_get_current_weights().weights for learner in group]
    assert all(torch.equal(a[key], b[key]) for a, b in zip(before, after, strict=True) for key in a)


def test_flowers_server_app_checks_the_vote_threshold_too():
    pytest.importorskip("flwr")
    from colearn_nb.flower import make_server_app

    for threshold in REFUSED:
        with pytest.raises(ValueError, match="vote_threshold: got"):
            make_server_app(n_learners=2, n_rounds=1, vote_threshold=threshold)
    assert make_server_app(n_learners=2, n_rounds=1, vote_threshold=np.float32(0.5)) is not None
